#!/usr/bin/env node
// Manages webhooks through mailgun.js 10.4.0 (tests/node), unmodified, the way an application
// does. Input on stdin: {"url", "key", "domain", "hook"}; output: the result of each call, in order.
'use strict';

const path = require('node:path');
const modules = path.join(__dirname, '..', '..', '..', 'tests', 'node', 'node_modules');
const FormData = require(path.join(modules, 'form-data'));
const Mailgun = require(path.join(modules, 'mailgun.js')).default;

async function attempt(call) {
    try {
        return {ok: true, value: await call()};
    } catch (error) {
        return {ok: false, status: error.status, message: error.message, details: error.details};
    }
}

async function main() {
    const input = JSON.parse(require('node:fs').readFileSync(0, 'utf8'));
    const client = new Mailgun(FormData).client({username: 'api', key: input.key, url: input.url});
    const {domain, hook} = input;
    const results = [];
    results.push(await attempt(() => client.webhooks.create(domain, 'delivered', `${hook}/one`)));
    results.push(await attempt(() => client.webhooks.update(domain, 'delivered', [`${hook}/one`, `${hook}/two`])));
    results.push(await attempt(() => client.webhooks.get(domain, 'delivered')));
    results.push(await attempt(() => client.webhooks.create(domain, 'clicked', `${hook}/clicks`)));
    results.push(await attempt(() => client.webhooks.list(domain, {})));
    results.push(await attempt(() => client.webhooks.create(domain, 'opened', `${hook}/test`, true)));
    results.push(await attempt(() => client.webhooks.destroy(domain, 'clicked')));
    results.push(await attempt(() => client.webhooks.get(domain, 'clicked')));
    results.push(await attempt(() => client.webhooks.create(domain, 'delivered', 'ftp://example.com/x')));
    process.stdout.write(JSON.stringify(results));
}

main().catch((error) => {
    process.stderr.write(String(error && error.stack || error));
    process.exit(1);
});
