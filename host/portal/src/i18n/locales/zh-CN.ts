// Simplified Chinese, the portal's default language. This file defines the
// message keys; every other locale must have exactly the same ones.

const zhCN = {
  app: {
    productName: '智运',
    productSubtitle: '智慧运营中心',
  },
  locale: {
    label: '语言',
    'zh-CN': '简体中文',
    'en-US': 'English',
  },
  login: {
    title: '登录智运',
    subtitle: '二级智慧运营中心',
    username: '用户名',
    usernamePlaceholder: '请输入用户名',
    password: '密码',
    passwordPlaceholder: '请输入密码',
    submit: '登录',
    submitting: '正在登录…',
    usernameRequired: '请输入用户名',
    passwordRequired: '请输入密码',
    failed: '登录失败',
    sessionEnded: '会话已结束',
  },
  header: {
    userMenu: '用户菜单',
    org: '所属单位',
    logout: '退出登录',
    loggedOut: '已退出登录',
  },
  nav: {
    launcher: '工作台',
  },
  launcher: {
    title: '工作台',
    searchPlaceholder: '搜索应用（名称或编号）',
    searchLabel: '搜索应用',
    loading: '正在加载菜单…',
    loadFailed: '加载菜单失败',
    retry: '重试',
    noApps: '您的角色尚未获得任何应用。如需开通，请联系系统管理员。',
    noMatches: '没有与“{query}”匹配的应用',
    appCount: '{n} 个应用',
    ungrouped: '其他',
    openApp: '打开应用 {title}',
  },
  appView: {
    title: '应用',
    appId: '应用编号',
    comingNext: '应用视图即将上线：这里将展示该应用的指标卡、图表和表格。',
    backToLauncher: '返回工作台',
  },
  errors: {
    'wrong-credentials': '用户名或密码错误',
    locked: '登录失败次数过多，账号已被锁定，请于 {until} 后重试，或联系系统管理员',
    lockedNoTime: '登录失败次数过多，账号已被锁定，请稍后重试，或联系系统管理员',
    disabled: '账号已停用，请联系系统管理员',
    'not-logged-in': '请先登录',
    'session-idle': '长时间未操作，会话已结束，请重新登录',
    'session-expired': '会话已达到最长有效期，请重新登录',
    'session-revoked': '会话已被结束，请重新登录',
    csrf: '请求缺少安全令牌，请重新登录',
    network: '无法连接服务器，请检查网络后重试',
    unknown: '操作失败：{message}',
  },
}

export type MessageSchema = typeof zhCN

export default zhCN
