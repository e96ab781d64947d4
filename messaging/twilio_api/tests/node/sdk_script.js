// A script written for Twilio with its Node SDK, run against the platform by changing only the
// base URL (a RequestClient that rewrites https://api.twilio.com) and the credentials.
// The test suite runs it (test_node_sdk.py) and passes the set-up in the environment.
"use strict";
const assert = require("node:assert/strict");
const http = require("node:http");
const twilio = require("twilio");

const env = process.env;
const TWILIO_ORIGIN = "https://api.twilio.com";

class BaseUrlRequestClient extends twilio.RequestClient {
  request(opts) {
    if (opts.uri.startsWith(TWILIO_ORIGIN)) opts.uri = env.BASE_URL + opts.uri.slice(TWILIO_ORIGIN.length);
    return super.request(opts);
  }
}

// The application's own web server: Twilio (here, the platform) calls it.
const received = [];
const app = http.createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    received.push({ path: req.url, headers: req.headers, params: Object.fromEntries(new URLSearchParams(body)) });
    if (req.url === "/sms") {
      const twiml = new twilio.twiml.MessagingResponse();
      twiml.message("Node says thanks");
      res.writeHead(200, { "Content-Type": "text/xml" });
      res.end(twiml.toString());
    } else {
      res.writeHead(204);
      res.end();
    }
  });
});

async function waitFor(predicate, what, seconds = 20) {
  for (let i = 0; i < seconds * 10; i++) {
    const found = received.find(predicate);
    if (found) return found;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no ${what} within ${seconds}s: ${JSON.stringify(received)}`);
}

function verified(request, path) {
  const url = `${appUrl}${path}`;
  return twilio.validateRequest(env.AUTH_TOKEN, request.headers["x-twilio-signature"], url, request.params);
}

let appUrl;

async function main() {
  await new Promise((resolve) => app.listen(0, "127.0.0.1", resolve));
  appUrl = `http://127.0.0.1:${app.address().port}`;
  const client = twilio(env.ACCOUNT_SID, env.AUTH_TOKEN, { httpClient: new BaseUrlRequestClient() });
  const summary = {};

  // Create and fetch.
  const message = await client.messages.create({ to: env.TO, from: env.FROM, body: "Hello from Node",
                                                 statusCallback: `${appUrl}/status` });
  assert.match(message.sid, /^SM/);
  assert.equal(message.status, "queued");
  assert.equal(message.accountSid, env.ACCOUNT_SID);
  assert.equal(message.numSegments, "1");
  assert.ok(message.dateCreated instanceof Date && !isNaN(message.dateCreated));
  const fetched = await client.messages(message.sid).fetch();
  assert.equal(fetched.body, "Hello from Node");

  // List with paging: three messages, two to a page.
  for (const n of [1, 2]) await client.messages.create({ to: env.TO, from: env.FROM, body: `More ${n}` });
  const all = await client.messages.list({ pageSize: 2 });
  assert.equal(all.length, 3);
  const page = await client.messages.page({ pageSize: 2 });
  assert.equal(page.instances.length, 2);
  const next = await page.nextPage();
  assert.equal(next.instances.length, 1);
  assert.equal(next.instances[0].sid, message.sid);

  // Cancel a scheduled message.
  const later = await client.messages.create({ to: env.TO, from: env.FROM, body: "Later",
                                               sendAt: new Date(Date.now() + 3600 * 1000), scheduleType: "fixed" });
  assert.equal(later.status, "scheduled");
  assert.equal((await client.messages(later.sid).update({ status: "canceled" })).status, "canceled");

  // Errors, with Twilio's codes.
  await assert.rejects(client.messages.create({ to: "12", from: env.FROM, body: "x" }),
                       (err) => err.status === 400 && err.code === 21211);
  await assert.rejects(client.messages.create({ to: env.TO, from: env.FROM, body: "" }),
                       (err) => err.status === 400 && err.code === 21602);
  await assert.rejects(twilio(env.ACCOUNT_SID, "0".repeat(32), { httpClient: new BaseUrlRequestClient() })
                         .messages(message.sid).fetch(), (err) => err.status === 401 && err.code === 20003);
  await assert.rejects(client.messages("SMmissing").fetch(), (err) => err.status === 404 && err.code === 20404);

  // The signed status callback, checked with the SDK's validator.
  const delivered = await waitFor((r) => r.path === "/status" && r.params.MessageStatus === "delivered",
                                  "delivered status callback");
  assert.equal(delivered.params.MessageSid, message.sid);
  assert.ok(verified(delivered, "/status"), "status callback signature");
  summary.statusCallbackVerified = true;

  // Redact the delivered message.
  assert.equal((await client.messages(message.sid).update({ body: "" })).body, "");

  // Point the number's SmsUrl at the application; an inbound text gets the TwiML reply.
  const [number] = await client.incomingPhoneNumbers.list({ phoneNumber: env.FROM });
  const updated = await client.incomingPhoneNumbers(number.sid).update({ smsUrl: `${appUrl}/sms`, smsMethod: "POST" });
  assert.equal(updated.smsUrl, `${appUrl}/sms`);
  // Playing the carrier: a text to our number, signed with the carrier account's token.
  const inbound = { AccountSid: env.CARRIER_SID, From: "+14155550166", To: env.FROM, Body: "Hi from a phone",
                    MessageSid: "SM" + "a".repeat(32), SmsMessageSid: "SM" + "a".repeat(32), NumMedia: "0" };
  const carrierSignature = twilio.getExpectedTwilioSignature(env.CARRIER_TOKEN, env.INBOUND_URL, inbound);
  const answer = await fetch(env.INBOUND_URL, { method: "POST", body: new URLSearchParams(inbound),
                                                headers: { "X-Twilio-Signature": carrierSignature } });
  assert.equal(answer.status, 200);
  const sms = await waitFor((r) => r.path === "/sms", "SmsUrl post");
  assert.equal(sms.params.Body, "Hi from a phone");
  assert.ok(verified(sms, "/sms"), "SmsUrl signature");
  summary.smsUrlVerified = true;
  summary.messageSid = message.sid;
  console.log(JSON.stringify(summary));
}

main().then(() => { app.close(); process.exit(0); },
            (err) => { console.error(err); app.close(); process.exit(1); });
