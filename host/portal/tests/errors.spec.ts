import { describe, expect, it } from 'vitest'
import { ApiError } from '@/api/client'
import { i18n, setLocale } from '@/i18n'
import { describeError } from '@/i18n/errors'

const t = (key: string, named?: Record<string, unknown>) => i18n.global.t(key, named ?? {})

describe('describeError', () => {
  it('translates the codes the portal knows, in the current language', () => {
    const wrong = new ApiError(401, 'wrong-credentials', 'wrong username or password')
    setLocale('zh-CN')
    expect(describeError(wrong, t, 'zh-CN')).toBe('用户名或密码错误')
    setLocale('en-US')
    expect(describeError(wrong, t, 'en-US')).toBe('Wrong username or password')
    setLocale('zh-CN')
  })

  it('says until when a locked account stays locked', () => {
    const until = Date.UTC(2026, 10, 28, 14, 0, 0) * 1000
    const locked = new ApiError(403, 'locked', 'locked', { detail: { locked_until: until } })
    const text = describeError(locked, t, 'zh-CN')
    expect(text).toContain('锁定')
    expect(text).toContain('2026')
    expect(describeError(new ApiError(403, 'locked', 'locked'), t, 'zh-CN')).toContain('稍后')
  })

  it('shows the server message for codes it does not know', () => {
    const other = new ApiError(400, 'invalid-input', 'username must be 1 to 128 characters')
    expect(describeError(other, t, 'zh-CN')).toBe('username must be 1 to 128 characters')
  })
})
