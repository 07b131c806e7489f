import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n, setLocale } from '@/i18n'
import LoginPage from '@/pages/LoginPage.vue'

function jsonResponse(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } })
}

async function mountLoginPage(path = '/login') {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/login', name: 'login', component: LoginPage },
      { path: '/', name: 'launcher', component: { template: '<div>launcher</div>' } },
    ],
  })
  await router.push(path)
  await router.isReady()
  const wrapper = mount(LoginPage, { global: { plugins: [i18n, router] }, attachTo: document.body })
  return { wrapper, router }
}

async function submit(wrapper: Awaited<ReturnType<typeof mountLoginPage>>['wrapper']) {
  await wrapper.find('input[name="username"]').setValue('user.3301')
  await wrapper.find('input[name="password"]').setValue('wrong')
  await wrapper.find('form').trigger('submit')
  await flushPromises()
  await new Promise((resolve) => setTimeout(resolve, 0))
  await flushPromises()
}

describe('LoginPage', () => {
  const fetchMock = vi.fn<typeof fetch>()

  beforeEach(() => {
    setLocale('zh-CN')
    vi.stubGlobal('fetch', fetchMock)
  })
  afterEach(() => {
    vi.unstubAllGlobals()
    document.body.innerHTML = ''
  })

  it('is in Chinese by default', async () => {
    const { wrapper } = await mountLoginPage()
    expect(wrapper.text()).toContain('登录智运')
  })

  it('shows why the server refused the login', async () => {
    fetchMock.mockResolvedValue(
      jsonResponse(401, { error: { code: 'wrong-credentials', message: 'wrong username or password' } }),
    )
    const { wrapper } = await mountLoginPage()
    await submit(wrapper)
    expect(fetchMock).toHaveBeenCalledTimes(1)
    expect(wrapper.find('[data-test="login-error"]').text()).toContain('用户名或密码错误')
  })

  it('goes to the page asked for after logging in', async () => {
    fetchMock.mockResolvedValue(
      jsonResponse(200, {
        user: { username: 'u', display_name: 'U', org_id: 'o', org_name: 'O', department: 'O', roles: [] },
        csrf_token: 't',
        expires_at: 0,
        idle_timeout_seconds: 1800,
      }),
    )
    const { wrapper, router } = await mountLoginPage('/login?redirect=/')
    await submit(wrapper)
    expect(router.currentRoute.value.name).toBe('launcher')
  })

  it('explains a session that ended', async () => {
    const { wrapper } = await mountLoginPage('/login?reason=session-idle')
    expect(wrapper.find('[data-test="session-ended"]').text()).toContain('长时间未操作')
  })
})
