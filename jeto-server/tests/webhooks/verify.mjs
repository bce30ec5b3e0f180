// Verifies webhook deliveries with the Standard Webhooks reference library (JavaScript), as a
// receiver would: reads {"secret": "whsec_...", "deliveries": [{"headers": {...}, "body": "..."}]}
// on stdin, prints the verified payloads as a JSON array, and exits 1 at the first delivery
// whose signature (or timestamp) does not verify.
import pkg from "standardwebhooks";

const { Webhook } = pkg;
let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, deliveries } = JSON.parse(input);
const webhook = new Webhook(secret);
const verified = [];
for (const [index, delivery] of deliveries.entries()) {
  try {
    verified.push(webhook.verify(delivery.body, delivery.headers));
  } catch (error) {
    console.error(`delivery ${index} (${delivery.headers["webhook-id"]}): ${error.message}`);
    process.exit(1);
  }
}
console.log(JSON.stringify(verified));
