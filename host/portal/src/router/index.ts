import { createRouter, createWebHashHistory, type RouteLocationNormalized } from 'vue-router'
import { ensureUser } from '@/stores/session'

export const router = createRouter({
  // Hash history: the server serves one index.html and needs no SPA fallback.
  history: createWebHashHistory(),
  routes: [
    {
      path: '/login',
      name: 'login',
      component: () => import('@/pages/LoginPage.vue'),
      meta: { public: true },
    },
    {
      path: '/',
      component: () => import('@/layouts/PortalLayout.vue'),
      children: [
        { path: '', name: 'launcher', component: () => import('@/pages/LauncherPage.vue') },
        {
          path: 'apps/:appId',
          name: 'app',
          component: () => import('@/pages/AppPage.vue'),
          props: true,
        },
      ],
    },
    { path: '/:unknown(.*)*', redirect: '/' },
  ],
})

/** Where to go after logging in: the page asked for, if it is one of ours. */
export function redirectTarget(route: RouteLocationNormalized): string {
  const wanted = route.query.redirect
  return typeof wanted === 'string' && wanted.startsWith('/') && !wanted.startsWith('//') ? wanted : '/'
}

router.beforeEach(async (to) => {
  if (to.meta.public) {
    // A logged-in user has no business on the login page.
    if (to.name === 'login' && (await ensureUser())) return redirectTarget(to)
    return true
  }
  if (await ensureUser()) return true
  return { name: 'login', query: to.fullPath === '/' ? {} : { redirect: to.fullPath } }
})
