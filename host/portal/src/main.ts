import { createApp } from 'vue'
import 'element-plus/dist/index.css'
import './styles.css'
import App from './App.vue'
import { i18n } from './i18n'
import { router } from './router'
import { onUnauthenticated } from './api/client'
import { forgetUser } from './stores/session'

document.documentElement.lang = i18n.global.locale.value

// A session that ends while the user works (idle, expired, revoked) sends
// them to the login page, which says why.
onUnauthenticated((error) => {
  forgetUser()
  const current = router.currentRoute.value
  if (current.name !== 'login') {
    void router.replace({
      name: 'login',
      query: { reason: error.code, ...(current.fullPath !== '/' ? { redirect: current.fullPath } : {}) },
    })
  }
})

createApp(App).use(i18n).use(router).mount('#app')
