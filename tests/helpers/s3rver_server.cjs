// A local S3-compatible server for the tests, run under Node (s3rver is a Node package): serves the bucket
// named by argv[3] from directory argv[2] on a free loopback port, prints {"port": N} and stops when stdin
// closes, so it never outlives the test process that started it.
"use strict";
const S3rver = require("s3rver");

const server = new S3rver({
  address: "127.0.0.1",
  port: 0,
  directory: process.argv[2],
  silent: true,
  configureBuckets: [{ name: process.argv[3] }],
});
server.run().then(({ port }) => {
  process.stdout.write(JSON.stringify({ port }) + "\n");
  process.stdin.on("end", () => server.close(() => process.exit(0)));
  process.stdin.resume();
});
