/**
 * A real webhook receiver on 127.0.0.1 for tests: records every request (headers and raw body) and answers with
 * whatever `respond` returns, so a test can play a healthy, failing, gone or redirecting customer.
 */
export interface ReceivedRequest {
  method: string;
  path: string;
  headers: Headers;
  body: string;
}

export interface Receiver {
  url: string;
  port: number;
  requests: ReceivedRequest[];
  respond: (request: ReceivedRequest) => Response | Promise<Response>;
  close(): Promise<void>;
}

export function startReceiver(
  respond: (request: ReceivedRequest) => Response | Promise<Response> = () => new Response("ok"),
  port = 0,
): Receiver {
  const requests: ReceivedRequest[] = [];
  const receiver: Receiver = {
    url: "",
    port: 0,
    requests,
    respond,
    close: async () => {
      await server.shutdown();
    },
  };
  const server = Deno.serve({ hostname: "127.0.0.1", port, onListen: () => {} }, async (request) => {
    const url = new URL(request.url);
    const received = {
      method: request.method,
      path: url.pathname + url.search,
      headers: request.headers,
      body: await request.text(),
    };
    requests.push(received);
    return await receiver.respond(received);
  });
  receiver.port = (server.addr as Deno.NetAddr).port;
  receiver.url = `http://127.0.0.1:${receiver.port}`;
  return receiver;
}

/** A port nothing listens on (bound then released), for "receiver down" cases. */
export function unusedPort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}
