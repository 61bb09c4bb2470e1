/**
 * `await nextTurn()`: lets this thread's event loop run once — other threads' messages, timers, signal
 * handlers — before going on. Computing code that only awaits promises already settled (a cpu backend's
 * results, reads that complete at once) never gives the loop a turn, and a message from another thread then
 * waits until that code is done: the edit's writing thread asking for a layer's tensor waited for every
 * subspace, the tokenizer and the top tokens (1.9 s of a 2.7 s edit).
 *
 * Through a message on a channel of its own, not a timer: chained timers are clamped to 4 ms, and a channel
 * left open would keep the process alive.
 */
export function nextTurn(): Promise<void> {
  const { port1, port2 } = new MessageChannel();
  return new Promise((resolve) => {
    port1.onmessage = () => {
      port1.close();
      port2.close();
      resolve();
    };
    port2.postMessage(null);
  });
}
