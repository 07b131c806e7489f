// Turning the caller's menu tree into the launcher's tile groups, and
// filtering them by a search query. Pure functions, tested on their own.

import type { MenuNode } from '@/api/client'

export interface AppTile {
  appId: string
  menuId: string
  title: string
  titleEn: string | null
}

export interface TileGroup {
  /** The menu directory the tiles hang under; `null` for top-level apps. */
  menuId: string | null
  /** The directory's path from the root, e.g. ["资金管理", "日常"]. */
  path: string[]
  pathEn: (string | null)[]
  tiles: AppTile[]
}

function bySortOrder(a: MenuNode, b: MenuNode): number {
  return a.sort_order - b.sort_order || a.menu_id.localeCompare(b.menu_id)
}

/**
 * One group per menu directory that directly holds apps, in menu order
 * (depth first); apps at the top level form a group of their own at the end.
 * Directories without apps (the portal's own pages hang there) are left out.
 */
export function groupTiles(menus: readonly MenuNode[]): TileGroup[] {
  const groups: TileGroup[] = []
  const topLevelApps: AppTile[] = []

  const visit = (node: MenuNode, path: string[], pathEn: (string | null)[]) => {
    const children = [...node.children].sort(bySortOrder)
    const tiles = children.filter((child) => child.app_id).map(toTile)
    if (tiles.length > 0) groups.push({ menuId: node.menu_id, path, pathEn, tiles })
    for (const child of children) {
      if (!child.app_id) visit(child, [...path, child.title], [...pathEn, child.title_en])
    }
  }

  for (const root of [...menus].sort(bySortOrder)) {
    if (root.app_id) topLevelApps.push(toTile(root))
    else visit(root, [root.title], [root.title_en])
  }
  if (topLevelApps.length > 0) groups.push({ menuId: null, path: [], pathEn: [], tiles: topLevelApps })
  return groups
}

function toTile(node: MenuNode): AppTile {
  return { appId: node.app_id ?? '', menuId: node.menu_id, title: node.title, titleEn: node.title_en }
}

/** The title to show in `locale`: the English one in en-US when there is one. */
export function localizedTitle(title: string, titleEn: string | null | undefined, locale: string): string {
  return locale.startsWith('en') && titleEn ? titleEn : title
}

/**
 * The groups with only the tiles matching `query` (case-insensitive, on the
 * Chinese and English titles, the app id and the group's path); empty groups
 * are dropped. A blank query keeps everything.
 */
export function filterTiles(groups: readonly TileGroup[], query: string): TileGroup[] {
  const needle = query.trim().toLowerCase()
  if (!needle) return [...groups]
  const matches = (text: string | null | undefined) => !!text && text.toLowerCase().includes(needle)
  return groups
    .map((group) => {
      const groupMatches = group.path.some(matches) || group.pathEn.some(matches)
      const tiles = groupMatches
        ? group.tiles
        : group.tiles.filter((tile) => matches(tile.title) || matches(tile.titleEn) || matches(tile.appId))
      return { ...group, tiles }
    })
    .filter((group) => group.tiles.length > 0)
}
