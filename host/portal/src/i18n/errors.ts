// A person-readable, translated sentence for an API failure. Known codes get
// the portal's own wording in the current language; anything else shows the
// server's message as it is.

import { ApiError } from '@/api/client'

type Translate = (key: string, named?: Record<string, unknown>) => string

const TRANSLATED_CODES = new Set([
  'wrong-credentials',
  'disabled',
  'not-logged-in',
  'session-idle',
  'session-expired',
  'session-revoked',
  'csrf',
  'network',
])

/** `locked_until` is µs since the epoch (UTC); shown in the reader's time zone. */
function formatMicros(micros: number, locale: string): string {
  return new Date(micros / 1000).toLocaleString(locale, { hour12: false })
}

export function describeError(error: unknown, t: Translate, locale: string): string {
  if (!(error instanceof ApiError)) {
    return t('errors.unknown', { message: error instanceof Error ? error.message : String(error) })
  }
  if (error.code === 'locked') {
    const until = error.detail?.locked_until
    return typeof until === 'number'
      ? t('errors.locked', { until: formatMicros(until, locale) })
      : t('errors.lockedNoTime')
  }
  if (TRANSLATED_CODES.has(error.code)) return t(`errors.${error.code}`)
  return error.message
}

/** Whether `code` names a session-ending failure the login page can explain. */
export function isSessionEndCode(code: string): boolean {
  return ['not-logged-in', 'session-idle', 'session-expired', 'session-revoked', 'csrf', 'disabled'].includes(code)
}
