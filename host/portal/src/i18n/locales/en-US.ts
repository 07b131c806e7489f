// English. Must have exactly the keys of zh-CN.ts (the type and a test check it).

import type { MessageSchema } from './zh-CN'

const enUS: MessageSchema = {
  app: {
    productName: 'zhiyun',
    productSubtitle: 'Smart Operations Center',
  },
  locale: {
    label: 'Language',
    'zh-CN': '简体中文',
    'en-US': 'English',
  },
  login: {
    title: 'Log in to zhiyun',
    subtitle: 'Secondary-level smart operations center',
    username: 'Username',
    usernamePlaceholder: 'Enter your username',
    password: 'Password',
    passwordPlaceholder: 'Enter your password',
    submit: 'Log in',
    submitting: 'Logging in…',
    usernameRequired: 'Enter your username',
    passwordRequired: 'Enter your password',
    failed: 'Login failed',
    sessionEnded: 'Session ended',
  },
  header: {
    userMenu: 'User menu',
    org: 'Organization',
    logout: 'Log out',
    loggedOut: 'You have logged out',
  },
  nav: {
    launcher: 'Workbench',
  },
  launcher: {
    title: 'Workbench',
    searchPlaceholder: 'Search apps (name or ID)',
    searchLabel: 'Search apps',
    loading: 'Loading your menus…',
    loadFailed: 'Could not load your menus',
    retry: 'Retry',
    noApps: 'Your roles do not grant any apps yet. Ask the system admin for access.',
    noMatches: 'No app matches “{query}”',
    appCount: '{n} app | {n} apps',
    ungrouped: 'Other',
    openApp: 'Open the app {title}',
  },
  appView: {
    title: 'App',
    appId: 'App ID',
    comingNext: 'The app view is coming next: this page will show the app’s KPI cards, charts and tables.',
    backToLauncher: 'Back to the workbench',
  },
  errors: {
    'wrong-credentials': 'Wrong username or password',
    locked:
      'The account is locked after repeated failed logins; try again after {until} or ask the system admin',
    lockedNoTime: 'The account is locked after repeated failed logins; try again later or ask the system admin',
    disabled: 'The account is disabled; ask the system admin',
    'not-logged-in': 'Please log in first',
    'session-idle': 'The session ended after a period of inactivity; log in again',
    'session-expired': 'The session reached its maximum lifetime; log in again',
    'session-revoked': 'The session was ended; log in again',
    csrf: 'The request lacked its security token; log in again',
    network: 'Could not reach the server; check the network and try again',
    unknown: 'Something went wrong: {message}',
  },
}

export default enUS
