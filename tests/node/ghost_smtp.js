#!/usr/bin/env node
// Sends mail the way Ghost's transactional mailer does when `mail__transport=SMTP`: Ghost hands
// its `mail.options` (host, port, secure, auth) to nodemailer's createTransport, then calls
// sendMail once per email (sign-in links, staff notifications).
//
// Input: one JSON object on stdin:
//   {"options": {<nodemailer SMTP options: host, port, secure, auth: {user, pass}, ...>},
//    "ca": "/path/to/cert.pem" (optional: trust this certificate),
//    "messages": [{<nodemailer message: from, to, subject, text, html, headers, ...>}, ...]}
// Output: one JSON object on stdout: {"results": [...]}, one per message:
//   {"ok": true, "messageId", "response", "accepted", "rejected"} or
//   {"ok": false, "code", "responseCode", "response", "message"}.
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const nodemailer = require(path.join(__dirname, 'node_modules', 'nodemailer'));

async function main() {
    const input = JSON.parse(fs.readFileSync(0, 'utf8'));
    const options = {...input.options};
    if (input.ca) {
        options.tls = {...(options.tls || {}), ca: fs.readFileSync(input.ca)};
    }
    const transport = nodemailer.createTransport(options);
    const results = [];
    for (const message of input.messages) {
        try {
            const info = await transport.sendMail(message);
            results.push({ok: true, messageId: info.messageId, response: info.response,
                accepted: info.accepted, rejected: info.rejected});
        } catch (error) {
            results.push({ok: false, code: error.code || null, responseCode: error.responseCode || null,
                response: error.response || null, message: String(error.message)});
        }
    }
    transport.close();
    process.stdout.write(JSON.stringify({results}));
}

main().catch((error) => {
    process.stderr.write(String(error && error.stack || error));
    process.exit(1);
});
