import { defineConfig } from 'vite';

// `npm run dev` serves the sources and forwards the API to VIGIL_API: the mock
// (`npm run mock`, port 7380) by default, or a real agent (http://127.0.0.1:7373).
const api = process.env.VIGIL_API ?? 'http://127.0.0.1:7380';

export default defineConfig({
  base: '/',
  build: {
    // CMake passes --outDir <build>/dashboard/dist; this default is for a manual build.
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    chunkSizeWarningLimit: 200,
  },
  server: {
    proxy: {
      '/api': { target: api, changeOrigin: false },
      '/mock': { target: api, changeOrigin: false },
    },
  },
});
