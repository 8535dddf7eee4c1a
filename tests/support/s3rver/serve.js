// Starts s3rver on 127.0.0.1 and a free port, then prints {"port": N} on one line of stdout so
// the test fixture knows where it listens. Stops on SIGTERM or when stdin closes (the test
// process went away), so no server outlives its test run.
'use strict';

const S3rver = require('s3rver');
const AWSAccount = require('s3rver/lib/models/account');

const directory = process.argv[2];
if (!directory) {
  process.stderr.write('usage: node serve.js DIRECTORY\n');
  process.exit(2);
}

// s3rver knows only its own hard-coded key pair; accept the one the tests sign with as well.
const { AWS_ACCESS_KEY_ID: keyId, AWS_SECRET_ACCESS_KEY: secret } = process.env;
if (keyId && secret) {
  AWSAccount.DUMMY_ACCOUNT.createKeyPair(keyId, secret);
}

const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  directory,
  silent: true,
  // Path-style requests only, as the DAM client sends them.
  vhostBuckets: false,
});

server.run((err, address) => {
  if (err) {
    process.stderr.write(`s3rver failed to start: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
