import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { flushPromises, mount } from '@vue/test-utils'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n, setLocale } from '@/i18n'
import LauncherPage from '@/pages/LauncherPage.vue'

// What the demo server answers user.3301 (trimmed to two directories).
const demoMenus = [
  {
    app_id: null,
    menu_id: 'finance',
    parent_id: null,
    roles: ['business-user'],
    sort_order: 10,
    title: '资金管理',
    title_en: 'Funds',
    children: [
      {
        app_id: 'fund-position',
        children: [],
        menu_id: 'finance.fund-position',
        parent_id: 'finance',
        roles: [],
        sort_order: 10,
        title: '资金全景监控',
        title_en: 'Fund position',
      },
    ],
  },
  {
    app_id: null,
    menu_id: 'alerts',
    parent_id: null,
    roles: ['business-user'],
    sort_order: 30,
    title: '智能预警',
    title_en: 'Alerts',
    children: [
      {
        app_id: 'low-balance-alert',
        children: [],
        menu_id: 'alerts.low-balance',
        parent_id: 'alerts',
        roles: [],
        sort_order: 10,
        title: '低余额预警',
        title_en: 'Low balance',
      },
    ],
  },
]

async function mountLauncher() {
  const router = createRouter({
    history: createMemoryHistory(),
    routes: [
      { path: '/', name: 'launcher', component: LauncherPage },
      { path: '/apps/:appId', name: 'app', component: { template: '<div />' } },
    ],
  })
  await router.push('/')
  await router.isReady()
  const wrapper = mount(LauncherPage, { global: { plugins: [i18n, router] } })
  await flushPromises()
  return wrapper
}

describe('LauncherPage', () => {
  const fetchMock = vi.fn<typeof fetch>()

  beforeEach(() => {
    setLocale('zh-CN')
    fetchMock.mockReset()
    vi.stubGlobal('fetch', fetchMock)
  })
  afterEach(() => vi.unstubAllGlobals())

  it('shows one group per menu with its app tiles, linking to the app', async () => {
    fetchMock.mockResolvedValue(new Response(JSON.stringify(demoMenus), { status: 200 }))
    const wrapper = await mountLauncher()
    const groups = wrapper.findAll('[data-test="tile-group"]')
    expect(groups.map((g) => g.find('h2').text())).toEqual([
      expect.stringContaining('资金管理'),
      expect.stringContaining('智能预警'),
    ])
    const tile = wrapper.find('[data-app-id="fund-position"]')
    expect(tile.text()).toContain('资金全景监控')
    expect(tile.attributes('href')).toBe('/apps/fund-position')
  })

  it('filters the tiles by the search box', async () => {
    fetchMock.mockResolvedValue(new Response(JSON.stringify(demoMenus), { status: 200 }))
    const wrapper = await mountLauncher()
    await wrapper.find('input').setValue('预警')
    const ids = wrapper.findAll('[data-test="app-tile"]').map((t) => t.attributes('data-app-id'))
    expect(ids).toEqual(['low-balance-alert'])
    await wrapper.find('input').setValue('no such app')
    expect(wrapper.find('[data-test="launcher-no-matches"]').text()).toContain('no such app')
  })

  it('uses the English menu titles in en-US', async () => {
    setLocale('en-US')
    fetchMock.mockResolvedValue(new Response(JSON.stringify(demoMenus), { status: 200 }))
    const wrapper = await mountLauncher()
    expect(wrapper.find('[data-app-id="fund-position"]').text()).toContain('Fund position')
    expect(wrapper.text()).toContain('1 app')
    setLocale('zh-CN')
  })

  it('says what went wrong when the menus do not load', async () => {
    fetchMock.mockRejectedValue(new TypeError('Failed to fetch'))
    const wrapper = await mountLauncher()
    expect(wrapper.find('[data-test="launcher-error"]').text()).toContain('无法连接服务器')
  })
})
