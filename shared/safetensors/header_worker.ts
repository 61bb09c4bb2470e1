/// <reference lib="deno.worker" />
/**
 * The body of a header-parsing thread (started by header_thread.ts for big headers): one request in, one
 * response out, then the caller terminates the thread.
 */
import { InputError } from "../errors.ts";
import { type HeaderRequest, type HeaderResponse, parseHeaderHere } from "./header_thread.ts";

self.onmessage = (event: MessageEvent<HeaderRequest>) => {
  let response: HeaderResponse;
  try {
    response = { ok: true, ...parseHeaderHere(event.data) };
  } catch (error) {
    response = { ok: false, message: (error as Error).message, input: error instanceof InputError };
  }
  self.postMessage(response);
};
