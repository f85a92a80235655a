// Vite, and so Vitest, imports a file's text with `?raw` (test/unit/contract.test.ts).
declare module "*?raw" {
  const text: string;
  export default text;
}
