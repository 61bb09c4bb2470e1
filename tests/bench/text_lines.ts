/** Splits a text stream into lines (what @std/streams' TextLineStream does; JSR is out of reach here). */
export class TextLineStream extends TransformStream<string, string> {
  constructor() {
    let carry = "";
    super({
      transform(chunk, controller) {
        const lines = (carry + chunk).split("\n");
        carry = lines.pop()!;
        for (const line of lines) controller.enqueue(line.replace(/\r$/, ""));
      },
      flush(controller) {
        if (carry) controller.enqueue(carry);
      },
    });
  }
}
