import { defineConfig } from "vite";

// Built into build/dashboard/ and served by the edge at /dashboard/ (edge.dashboard_dir).
export default defineConfig({
  base: "/dashboard/",
  build: {
    outDir: "../build/dashboard",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 1200,
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
});
