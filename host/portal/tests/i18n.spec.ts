import { describe, expect, it } from 'vitest'
import { messages, SUPPORTED_LOCALES, DEFAULT_LOCALE } from '@/i18n'

type MessageTree = { [key: string]: string | MessageTree }

/** Every leaf key of a message tree as a dotted path, e.g. "login.title". */
function leafKeys(tree: MessageTree, prefix = ''): string[] {
  return Object.entries(tree).flatMap(([key, value]) => {
    const path = prefix ? `${prefix}.${key}` : key
    return typeof value === 'string' ? [path] : leafKeys(value, path)
  })
}

/** The `{name}` placeholders of a message, sorted. */
function placeholders(message: string): string[] {
  return [...message.matchAll(/\{(\w+)\}/g)].map((m) => m[1] ?? '').sort()
}

function lookup(tree: MessageTree, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node as MessageTree | undefined)?.[key], tree)
}

describe('locales', () => {
  const trees = Object.fromEntries(
    SUPPORTED_LOCALES.map((locale) => [locale, messages[locale] as unknown as MessageTree]),
  )

  it('defaults to zh-CN', () => {
    expect(DEFAULT_LOCALE).toBe('zh-CN')
  })

  for (const locale of SUPPORTED_LOCALES) {
    for (const other of SUPPORTED_LOCALES) {
      if (locale === other) continue
      it(`${other} has every key of ${locale}`, () => {
        const missing = leafKeys(trees[locale]!).filter((key) => typeof lookup(trees[other]!, key) !== 'string')
        expect(missing, `keys missing from ${other}`).toEqual([])
      })
    }

    it(`${locale} has no empty messages`, () => {
      const empty = leafKeys(trees[locale]!).filter((key) => !(lookup(trees[locale]!, key) as string).trim())
      expect(empty).toEqual([])
    })
  }

  it('uses the same placeholders in every locale', () => {
    const reference = trees[DEFAULT_LOCALE]!
    for (const locale of SUPPORTED_LOCALES) {
      for (const key of leafKeys(reference)) {
        const expected = placeholders(lookup(reference, key) as string)
        const actual = placeholders(lookup(trees[locale]!, key) as string)
        expect([...new Set(actual)], `${locale}: ${key}`).toEqual([...new Set(expected)])
      }
    }
  })

  it('has a message for each locale name in every locale', () => {
    for (const locale of SUPPORTED_LOCALES) {
      for (const named of SUPPORTED_LOCALES) {
        expect(typeof lookup(trees[locale]!, `locale.${named}`)).toBe('string')
      }
    }
  })
})

describe('the leaf-key walker', () => {
  it('finds a key missing deep in a tree', () => {
    const complete: MessageTree = { a: { b: 'x', c: { d: 'y' } } }
    const partial: MessageTree = { a: { b: 'x', c: {} } }
    const missing = leafKeys(complete).filter((key) => typeof lookup(partial, key) !== 'string')
    expect(missing).toEqual(['a.c.d'])
  })
})
