// A configuration value is wrong: reported at start as one line naming the key, never with a stack.
// Here, below every layer, because both the config loader and the store (which reads DATABASE_URL)
// raise it; src/config.ts re-exports it as the public name.
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}
