import { describe, expect, it } from 'vitest'
import type { MenuNode } from '@/api/client'
import { filterTiles, groupTiles, localizedTitle } from '@/launcher/tiles'

function menu(partial: Partial<MenuNode> & Pick<MenuNode, 'menu_id' | 'title'>): MenuNode {
  return { parent_id: null, title_en: null, app_id: null, sort_order: 0, roles: [], children: [], ...partial }
}

// The shape GET /api/v1/me/menus answers for the demo's business user, plus
// a nested directory, an empty directory and a top-level app.
const menus: MenuNode[] = [
  menu({
    menu_id: 'reports',
    title: '报表中心',
    title_en: 'Reports',
    sort_order: 20,
    children: [
      menu({ menu_id: 'reports.fund-daily', title: '资金日报', title_en: 'Daily fund report', app_id: 'fund-daily-report', sort_order: 10 }),
    ],
  }),
  menu({
    menu_id: 'finance',
    title: '资金管理',
    title_en: 'Funds',
    sort_order: 10,
    children: [
      menu({ menu_id: 'finance.b', title: '资金全景监控', title_en: 'Fund position', app_id: 'fund-position', sort_order: 10 }),
      menu({
        menu_id: 'finance.more',
        title: '更多',
        title_en: 'More',
        sort_order: 20,
        children: [menu({ menu_id: 'finance.more.x', title: '票据', app_id: 'bills', sort_order: 1 })],
      }),
      menu({ menu_id: 'finance.a', title: '现金流', title_en: 'Cash flow', app_id: 'cash-flow', sort_order: 5 }),
    ],
  }),
  menu({ menu_id: 'admin', title: '系统管理', title_en: 'Administration', sort_order: 90 }),
  menu({ menu_id: 'solo', title: '单独应用', app_id: 'solo-app', sort_order: 95 }),
]

describe('groupTiles', () => {
  it('groups apps by their directory, in menu order, leaving out empty directories', () => {
    const groups = groupTiles(menus)
    expect(groups.map((g) => g.menuId)).toEqual(['finance', 'finance.more', 'reports', null])
    expect(groups[0]?.tiles.map((t) => t.appId)).toEqual(['cash-flow', 'fund-position'])
    expect(groups[1]?.path).toEqual(['资金管理', '更多'])
    expect(groups[1]?.pathEn).toEqual(['Funds', 'More'])
    expect(groups[3]?.tiles.map((t) => t.appId)).toEqual(['solo-app'])
  })

  it('gives no groups for a menu without apps', () => {
    expect(groupTiles([menu({ menu_id: 'admin', title: '系统管理' })])).toEqual([])
  })
})

describe('filterTiles', () => {
  const groups = groupTiles(menus)

  it('keeps everything for a blank query', () => {
    expect(filterTiles(groups, '  ')).toEqual(groups)
  })

  it('matches Chinese titles, English titles and app ids, ignoring case', () => {
    const ids = (query: string) => filterTiles(groups, query).flatMap((g) => g.tiles.map((t) => t.appId))
    expect(ids('日报')).toEqual(['fund-daily-report'])
    expect(ids('FUND POS')).toEqual(['fund-position'])
    expect(ids('cash-')).toEqual(['cash-flow'])
    expect(ids('nothing like it')).toEqual([])
  })

  it('keeps a whole group when its directory matches', () => {
    const found = filterTiles(groups, 'reports')
    expect(found).toHaveLength(1)
    expect(found[0]?.tiles.map((t) => t.appId)).toEqual(['fund-daily-report'])
  })
})

describe('localizedTitle', () => {
  it('uses the English title in en-US when there is one', () => {
    expect(localizedTitle('资金日报', 'Daily fund report', 'en-US')).toBe('Daily fund report')
    expect(localizedTitle('票据', null, 'en-US')).toBe('票据')
    expect(localizedTitle('资金日报', 'Daily fund report', 'zh-CN')).toBe('资金日报')
  })
})
