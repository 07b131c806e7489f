// Who is logged in, shared by the pages. A plain reactive module: the portal
// is small enough not to need a store library.

import { readonly, ref } from 'vue'
import * as api from '@/api/client'
import type { Caller } from '@/api/client'

const currentUser = ref<Caller | null>(null)
let restoring: Promise<Caller | null> | null = null

export const user = readonly(currentUser)

/** Log in; on success the user is current. Throws the server's `ApiError`. */
export async function logIn(username: string, password: string): Promise<Caller> {
  const answer = await api.login(username, password)
  currentUser.value = answer.user
  return answer.user
}

/** End the session on the server (best effort) and forget the user. */
export async function logOut(): Promise<void> {
  try {
    await api.logout()
  } finally {
    forgetUser()
  }
}

export function forgetUser(): void {
  currentUser.value = null
  restoring = null
  api.setCsrfToken(null)
}

/**
 * The current user, asking the server once (`GET /api/v1/me`) after a page
 * load whether the session cookie is still good. `null` when not logged in.
 */
export function ensureUser(): Promise<Caller | null> {
  if (currentUser.value) return Promise.resolve(currentUser.value)
  restoring ??= api
    .fetchMe({ quietUnauthenticated: true })
    .then((caller) => (currentUser.value = caller))
    .catch(() => {
      restoring = null
      return null
    })
  return restoring
}
