// Vite handles the CSS import in main.ts; TypeScript only needs to know such modules exist.
/// <reference types="vite/client" />
