/// <reference types="vitest/config" />
import { defineConfig } from 'vite'
import vue from '@vitejs/plugin-vue'
import { fileURLToPath, URL } from 'node:url'

// `npm run dev` proxies /api to a running zhiyun server; point it elsewhere
// with ZHIYUN_API=http://host:port.
const apiTarget = process.env.ZHIYUN_API ?? 'http://127.0.0.1:8080'

export default defineConfig({
  // Relative asset URLs: the built portal works wherever the server mounts it.
  base: './',
  plugins: [vue()],
  resolve: {
    alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) },
  },
  server: {
    proxy: {
      '/api': { target: apiTarget, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // Element Plus in a chunk of its own: it changes less often than the portal.
    rolldownOptions: {
      output: {
        codeSplitting: {
          groups: [{ name: 'element-plus', test: /node_modules[\\/](element-plus|@element-plus)/ }],
        },
      },
    },
  },
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.spec.ts'],
  },
})
