#!/usr/bin/env node
// Calls Postgate's POST /v1/analytics/metrics through mailgun.js's own metrics client
// (`client.metrics.getAccount(query)`), the way an application using mailgun.js would.
//
// Input: one JSON object on stdin: {"url": "http://127.0.0.1:PORT", "key": "...", "queries": [query, ...]};
// a query with "asDates": true has its start and end turned into Date objects first.
// Output: one JSON object on stdout: {"results": [...]}, each {"ok": true, "result": <MetricsResult>}
// (dates as ISO text) or {"ok": false, "error": {status, details}}.
'use strict';

const path = require('node:path');

const here = __dirname;
const FormData = require(path.join(here, 'node_modules', 'form-data'));
const Mailgun = require(path.join(here, 'node_modules', 'mailgun.js')).default;

async function main() {
    let text = '';
    for await (const chunk of process.stdin) {
        text += chunk;
    }
    const input = JSON.parse(text);
    const client = new Mailgun(FormData).client({username: 'api', key: input.key, url: input.url, timeout: 60000});
    const results = [];
    for (const query of input.queries) {
        if (query.asDates) {  // start and end as Date objects: mailgun.js sends them as ISO 8601
            delete query.asDates;
            query.start = new Date(query.start);
            query.end = new Date(query.end);
        }
        try {
            const result = await client.metrics.getAccount(query);
            results.push({ok: true, result});
        } catch (error) {
            results.push({ok: false, error: {status: error.status, details: error.details}});
        }
    }
    process.stdout.write(JSON.stringify({results}));
}

main().catch((error) => {
    process.stderr.write(String(error && error.stack || error));
    process.exit(1);
});
