/**
 * Reads a Server-Sent Events body (text/event-stream, WHATWG HTML §9.2): `id`, `event` and `data` fields,
 * an event per blank line, comments (`:`) ignored.
 */
export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
}

export async function* readSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const lines = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let id: string | null = null;
  let event = "";
  let data: string[] = [];
  for (;;) {
    const { value, done } = await lines.read();
    if (done) return;
    buffer += value;
    let newline;
    while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = buffer.slice(0, newline);
      buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
      if (line === "") {
        if (data.length) yield { id, event: event || "message", data: data.join("\n") };
        event = "";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "id") id = text;
      else if (field === "event") event = text;
      else if (field === "data") data.push(text);
    }
  }
}
