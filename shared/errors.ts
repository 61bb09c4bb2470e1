/**
 * Errors shared by the API, the worker and the CLI.
 *
 * `InputError` is the user's fault (a malformed file, a bad flag, an unsupported model): its message is written
 * for them and shown as is — one line in the CLI, the `detail` of a 4xx problem+json over HTTP. Anything else
 * that escapes is a bug or an outage and is reported as such.
 */
export class InputError extends Error {
  override name = "InputError";
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The message of an unknown thrown value, for logs and error chains. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
