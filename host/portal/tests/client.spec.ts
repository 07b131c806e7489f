import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import {
  ApiError,
  CSRF_HEADER,
  fetchMe,
  fetchMyMenus,
  getCsrfToken,
  login,
  logout,
  onUnauthenticated,
  request,
  setCsrfToken,
} from '@/api/client'

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  })
}

const fetchMock = vi.fn<typeof fetch>()

beforeEach(() => {
  fetchMock.mockReset()
  vi.stubGlobal('fetch', fetchMock)
  setCsrfToken(null)
})

afterEach(() => {
  vi.unstubAllGlobals()
})

function lastRequest(): { url: string; init: RequestInit; headers: Record<string, string> } {
  const [url, init] = fetchMock.mock.lastCall ?? []
  return { url: String(url), init: init ?? {}, headers: (init?.headers ?? {}) as Record<string, string> }
}

describe('errors', () => {
  it('surfaces the code and message of the server JSON error body', async () => {
    fetchMock.mockResolvedValue(
      jsonResponse(401, { error: { code: 'wrong-credentials', message: 'wrong username or password' } }),
    )
    const error = await login('user.3301', 'nope').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ApiError)
    expect(error).toMatchObject({ status: 401, code: 'wrong-credentials', message: 'wrong username or password' })
  })

  it('keeps the detail and current state the server sends', async () => {
    fetchMock.mockResolvedValue(
      jsonResponse(403, {
        error: { code: 'locked', message: 'the account is locked', detail: { locked_until: 1795916631225331 } },
      }),
    )
    const error = (await login('user.3301', 'x').catch((e: unknown) => e)) as ApiError
    expect(error.code).toBe('locked')
    expect(error.detail).toEqual({ locked_until: 1795916631225331 })

    fetchMock.mockResolvedValue(
      jsonResponse(409, { error: { code: 'conflict', message: 'already live', current_state: 'published' } }),
    )
    const conflict = (await request('POST', '/apps/x/approve').catch((e: unknown) => e)) as ApiError
    expect(conflict).toMatchObject({ code: 'conflict', currentState: 'published' })
  })

  it('names the HTTP status when the body is not the JSON error shape', async () => {
    fetchMock.mockResolvedValue(new Response('<html>Bad Gateway</html>', { status: 502, statusText: 'Bad Gateway' }))
    const error = (await fetchMe().catch((e: unknown) => e)) as ApiError
    expect(error).toMatchObject({ status: 502, code: 'http-502' })
    expect(error.message).toContain('502')

    fetchMock.mockResolvedValue(jsonResponse(500, { unexpected: true }))
    expect(await fetchMe().catch((e: unknown) => e)).toMatchObject({ code: 'http-500' })
  })

  it('reports an unreachable server as a network error', async () => {
    fetchMock.mockRejectedValue(new TypeError('Failed to fetch'))
    const error = (await fetchMyMenus().catch((e: unknown) => e)) as ApiError
    expect(error).toMatchObject({ status: 0, code: 'network' })
  })

  it('reports a successful answer that is not JSON', async () => {
    fetchMock.mockResolvedValue(new Response('not json', { status: 200 }))
    expect(await fetchMe().catch((e: unknown) => e)).toMatchObject({ code: 'bad-response' })
  })

  it('tells the unauthenticated listeners when a session ends, but not for a failed login', async () => {
    const listener = vi.fn()
    const unsubscribe = onUnauthenticated(listener)
    try {
      fetchMock.mockResolvedValue(
        jsonResponse(401, { error: { code: 'session-idle', message: 'the session ended' } }),
      )
      await fetchMyMenus().catch(() => undefined)
      expect(listener).toHaveBeenCalledTimes(1)
      expect(listener.mock.calls[0]?.[0]).toMatchObject({ code: 'session-idle' })

      fetchMock.mockResolvedValue(
        jsonResponse(401, { error: { code: 'wrong-credentials', message: 'wrong username or password' } }),
      )
      await login('a', 'b').catch(() => undefined)
      expect(listener).toHaveBeenCalledTimes(1)
    } finally {
      unsubscribe()
    }
  })
})

describe('session and CSRF', () => {
  const loginAnswer = {
    user: {
      username: 'user.3301',
      display_name: '孙业务',
      org_id: '3301-cw',
      org_name: '城东县供电公司财务部',
      department: '城东县供电公司财务部',
      roles: ['business-user'],
    },
    csrf_token: 'csrf-123',
    expires_at: 1,
    idle_timeout_seconds: 1800,
  }

  it('posts the login as JSON and keeps the CSRF token', async () => {
    fetchMock.mockResolvedValue(jsonResponse(200, loginAnswer))
    const answer = await login('user.3301', 'Biz#East2026')
    expect(answer.user.display_name).toBe('孙业务')
    const { url, init, headers } = lastRequest()
    expect(url).toBe('/api/v1/login')
    expect(init.method).toBe('POST')
    expect(init.credentials).toBe('same-origin')
    expect(headers['Content-Type']).toBe('application/json')
    expect(JSON.parse(String(init.body))).toEqual({ username: 'user.3301', password: 'Biz#East2026' })
    expect(getCsrfToken()).toBe('csrf-123')
  })

  it('sends the CSRF token on writes only', async () => {
    setCsrfToken('csrf-123')
    fetchMock.mockResolvedValue(jsonResponse(200, []))
    await fetchMyMenus()
    expect(lastRequest().headers[CSRF_HEADER]).toBeUndefined()

    fetchMock.mockResolvedValue(new Response(null, { status: 204 }))
    await logout()
    expect(lastRequest().url).toBe('/api/v1/logout')
    expect(lastRequest().headers[CSRF_HEADER]).toBe('csrf-123')
    expect(getCsrfToken()).toBeNull()
  })

  it('forgets the CSRF token even when the logout fails', async () => {
    setCsrfToken('csrf-123')
    fetchMock.mockResolvedValue(jsonResponse(401, { error: { code: 'session-expired', message: 'ended' } }))
    await expect(logout()).rejects.toMatchObject({ code: 'session-expired' })
    expect(getCsrfToken()).toBeNull()
  })
})
