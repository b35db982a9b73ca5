/// <reference types="vitest/config" />
import { writeFileSync } from "node:fs";
import { fileURLToPath, URL } from "node:url";
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

// keepGitkeep re-creates dist/.gitkeep after a build: the Go side embeds
// web/dist and the placeholder keeps `go build` working in a fresh clone.
function keepGitkeep(): Plugin {
  return {
    name: "coffer-keep-gitkeep",
    apply: "build",
    closeBundle() {
      writeFileSync(fileURLToPath(new URL("./dist/.gitkeep", import.meta.url)), "");
    },
  };
}

export default defineConfig({
  plugins: [react(), tailwindcss(), keepGitkeep()],
  resolve: {
    alias: { "@": fileURLToPath(new URL("./src", import.meta.url)) },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
  },
  server: {
    // `npm run dev` proxies the API to a locally running `coffer serve`.
    proxy: { "/api": process.env.COFFER_DEV_API ?? "http://127.0.0.1:8080" },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    css: false,
    // The machine is shared with Go test runs; typing tests can be slow there.
    testTimeout: 20_000,
  },
});
