// A small typed client for the zhiyun API under /api/v1.
//
// The browser authenticates with the session cookie the login sets; every
// write (anything but GET/HEAD/OPTIONS) must echo the session's CSRF token
// from the login answer in `X-CSRF-Token`. Every failure, whether the server
// answered with its JSON error body or the request never got an answer, is
// thrown as an `ApiError` with a stable `code` and a readable `message`.

import type { components } from './schema'

type Schemas = components['schemas']

export type Caller = Schemas['Caller']
export type LoginResponse = Schemas['LoginResponse']
export type ErrorBody = Schemas['ErrorBody']

/**
 * One entry of the caller's menu tree (`GET /api/v1/me/menus`).
 *
 * The OpenAPI document describes that answer only as a JSON value, so this
 * mirrors the server's `zhiyun_authz::MenuNode` by hand. Replace it with the
 * generated type once the server declares the schema.
 */
export interface MenuNode {
  menu_id: string
  parent_id: string | null
  title: string
  title_en: string | null
  /** The app the entry opens; `null` for a directory. */
  app_id: string | null
  sort_order: number
  roles: string[]
  children: MenuNode[]
}

export const API_BASE = '/api/v1'
export const CSRF_HEADER = 'X-CSRF-Token'
const CSRF_STORAGE_KEY = 'zhiyun.csrf'

/** Codes the client itself uses when there is no server error body. */
export const CLIENT_ERROR_CODES = {
  network: 'network',
  badResponse: 'bad-response',
} as const

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  readonly currentState?: string
  readonly detail?: Record<string, unknown>

  constructor(
    status: number,
    code: string,
    message: string,
    extra: { currentState?: string; detail?: Record<string, unknown> } = {},
  ) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
    this.currentState = extra.currentState
    this.detail = extra.detail
  }

  /** The session is missing, ended or expired: the user must log in again. */
  get needsLogin(): boolean {
    return this.status === 401
  }
}

let csrfToken: string | null = readStoredCsrf()
const unauthenticatedListeners = new Set<(error: ApiError) => void>()

function readStoredCsrf(): string | null {
  try {
    return sessionStorage.getItem(CSRF_STORAGE_KEY)
  } catch {
    return null
  }
}

/** Remember (or forget, with `null`) the CSRF token of the current session. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token
  try {
    if (token) sessionStorage.setItem(CSRF_STORAGE_KEY, token)
    else sessionStorage.removeItem(CSRF_STORAGE_KEY)
  } catch {
    // Storage may be unavailable (private mode); the in-memory token still works.
  }
}

export function getCsrfToken(): string | null {
  return csrfToken
}

/**
 * Call `listener` whenever a request fails because the session is gone
 * (HTTP 401), except the login request itself. Returns an unsubscribe function.
 */
export function onUnauthenticated(listener: (error: ApiError) => void): () => void {
  unauthenticatedListeners.add(listener)
  return () => unauthenticatedListeners.delete(listener)
}

function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null || !('error' in value)) return false
  const error = (value as { error: unknown }).error
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  )
}

/** Turn a failed response into an `ApiError`, from its JSON error body if it has one. */
export async function errorFromResponse(response: Response): Promise<ApiError> {
  let body: unknown
  try {
    body = await response.json()
  } catch {
    body = undefined
  }
  if (isErrorBody(body)) {
    const { code, message, current_state, detail } = body.error
    return new ApiError(response.status, code, message, {
      currentState: current_state ?? undefined,
      detail: (detail as Record<string, unknown> | null | undefined) ?? undefined,
    })
  }
  const statusText = response.statusText || 'no error body'
  return new ApiError(
    response.status,
    `http-${response.status}`,
    `the server answered ${response.status} (${statusText})`,
  )
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export interface RequestOptions {
  /** Sent as JSON. */
  body?: unknown
  signal?: AbortSignal
  /** Do not notify the unauthenticated listeners on a 401 (used by login). */
  quietUnauthenticated?: boolean
}

/** Send one request to `/api/v1{path}` and return its JSON answer (`undefined` for 204). */
export async function request<T>(
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<T> {
  const upperMethod = method.toUpperCase()
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (options.body !== undefined) headers['Content-Type'] = 'application/json'
  if (!SAFE_METHODS.has(upperMethod) && csrfToken) headers[CSRF_HEADER] = csrfToken

  let response: Response
  try {
    response = await fetch(`${API_BASE}${path}`, {
      method: upperMethod,
      headers,
      credentials: 'same-origin',
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: options.signal,
    })
  } catch (cause) {
    if (cause instanceof DOMException && cause.name === 'AbortError') throw cause
    throw new ApiError(0, CLIENT_ERROR_CODES.network, `could not reach the server: ${String(cause)}`)
  }

  if (!response.ok) {
    const error = await errorFromResponse(response)
    if (error.needsLogin && !options.quietUnauthenticated) {
      for (const listener of unauthenticatedListeners) listener(error)
    }
    throw error
  }
  if (response.status === 204) return undefined as T
  try {
    return (await response.json()) as T
  } catch {
    throw new ApiError(
      response.status,
      CLIENT_ERROR_CODES.badResponse,
      'the server answered with something that is not JSON',
    )
  }
}

// The endpoints the portal uses so far.

export async function login(username: string, password: string): Promise<LoginResponse> {
  const answer = await request<LoginResponse>('POST', '/login', {
    body: { username, password },
    quietUnauthenticated: true,
  })
  setCsrfToken(answer.csrf_token)
  return answer
}

export async function logout(): Promise<void> {
  try {
    await request<void>('POST', '/logout', { quietUnauthenticated: true })
  } finally {
    setCsrfToken(null)
  }
}

export function fetchMe(options: RequestOptions = {}): Promise<Caller> {
  return request<Caller>('GET', '/me', options)
}

export function fetchMyMenus(): Promise<MenuNode[]> {
  return request<MenuNode[]>('GET', '/me/menus')
}
