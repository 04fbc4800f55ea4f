#!/usr/bin/env node
// Drives Postgate the way Ghost 6.65 drives Mailgun: the same mailgun.js 10.4.0 + form-data 4.0.6
// client construction and the same calls as Ghost's `core/server/services/lib/mailgun-client.js`
// (send, #fetchEventsFromDomain, removeSuppression, normalizeEvent), plus plain mailgun.js calls.
//
// Input: one JSON object on stdin (or as the first argument):
//   {"url": "http://127.0.0.1:PORT", "key": "...", "domain": "...", "calls": [{"op": ..., ...}, ...]}
// Output: one JSON object on stdout: {"results": [<one result per call>]}. A result is
//   {"ok": true, ...} or {"ok": false, "error": {status, message, details, type}}.
//
// Operations:
//   send            Ghost's MailgunClient.send(message, recipientData, replacements), with the
//                   per-recipient Message-Id of Ghost 6.65 when message.perRecipientMessageId.
//   fetchEvents     Ghost's #fetchEventsFromDomain loop (page.pages.next.page, options re-sent).
//   removeSuppression  Ghost's removeSuppression(type, email): suppressions.destroy.
//   create          mailgun.js messages.create(domain, data) with data as given (JSON types kept).
//   suppressions    mailgun.js suppressions.<method>(domain, type, ...args).
//   eventsGet       one mailgun.js events.get(domain, query) call.
'use strict';

const crypto = require('node:crypto');
const path = require('node:path');

// Resolve the client packages from this folder (tests/node/node_modules), whatever the cwd.
const here = __dirname;
const FormData = require(path.join(here, 'node_modules', 'form-data'));
const Mailgun = require(path.join(here, 'node_modules', 'mailgun.js')).default;

// -- Ghost 6.65 lib/mailgun-recipient-message-id.js --------------------------------------------
const RECIPIENT_MESSAGE_ID_VARIABLE = 'message_id';

function buildRecipientMessageId({emailId, recipientEmail, domain}) {
    const prefix = emailId || crypto.randomUUID();
    const digest = crypto.createHash('sha256').update(`${prefix}:${recipientEmail}`).digest('hex').slice(0, 32);
    return `${prefix}.${digest}@${domain}`;
}

function addRecipientMessageIds(recipientData, {emailId, domain}) {
    const result = {};
    for (const [recipientEmail, variables] of Object.entries(recipientData)) {
        result[recipientEmail] = {
            ...variables,
            [RECIPIENT_MESSAGE_ID_VARIABLE]: buildRecipientMessageId({emailId, recipientEmail, domain})
        };
    }
    return result;
}

// -- Ghost's MailgunClient.getInstance() ---------------------------------------------------------
function getInstance(config) {
    const baseUrl = new URL(config.url);
    const mailgun = new Mailgun(FormData);
    return mailgun.client({
        username: 'api',
        key: config.key,
        url: baseUrl.origin,
        timeout: 60000
    });
}

function describeError(error) {
    if (error && typeof error === 'object') {
        return {
            status: error.status === undefined ? null : error.status,
            message: error.message === undefined ? null : String(error.message),
            details: error.details === undefined ? null : error.details,
            type: error.type === undefined ? null : error.type,
            name: error.name || null
        };
    }
    return {status: null, message: String(error), details: null, type: null, name: null};
}

// -- Ghost's MailgunClient.send() -----------------------------------------------------------------
async function send(config, call) {
    const mailgunInstance = getInstance(config);
    const message = {...call.message};
    if (message.deliveryTime) {
        message.deliveryTime = new Date(message.deliveryTime);
    }
    const domain = message.domainOverride ? message.domainOverride : config.domain;
    let recipientData = call.recipientData;
    if (message.perRecipientMessageId) {
        recipientData = addRecipientMessageIds(recipientData, {emailId: message.id, domain});
    }
    const replacements = (call.replacements || []).map(r => ({
        format: r.format, id: r.id, regexp: new RegExp(r.pattern, 'g')
    }));
    const bulkEmailConfig = {mailgun: {testmode: Boolean(call.config && call.config.testmode)}};

    const messageContent = {subject: message.subject, html: message.html, plaintext: message.plaintext};
    replacements.forEach((replacement) => {
        messageContent[replacement.format] = messageContent[replacement.format].replace(
            replacement.regexp,
            `%recipient.${replacement.id}%`
        );
    });

    const messageData = {
        to: Object.keys(recipientData),
        from: message.from,
        'h:Reply-To': message.replyTo || message.reply_to,
        subject: messageContent.subject,
        html: messageContent.html,
        text: messageContent.plaintext,
        'recipient-variables': JSON.stringify(recipientData),
        'h:Sender': message.from,
        'h:Auto-Submitted': 'auto-generated',
        'h:X-Auto-Response-Suppress': 'OOF, AutoReply'
    };
    if (Object.keys(recipientData)[0] && recipientData[Object.keys(recipientData)[0]].list_unsubscribe) {
        messageData['h:List-Unsubscribe'] = '<%recipient.list_unsubscribe%>, <%tag_unsubscribe_email%>';
        messageData['h:List-Unsubscribe-Post'] = 'List-Unsubscribe=One-Click';
    }
    if (message.id) {
        messageData['v:email-id'] = message.id;
    }
    const tags = ['ghost-email'];
    if (Array.isArray(message.tags)) {
        tags.push(...message.tags);
    }
    messageData['o:tag'] = tags;
    if (bulkEmailConfig?.mailgun?.testmode) {
        messageData['o:testmode'] = true;
    }
    if (message.track_opens) {
        messageData['o:tracking-opens'] = true;
    }
    if (message.deliveryTime && message.deliveryTime instanceof Date) {
        messageData['o:deliverytime'] = message.deliveryTime.toUTCString();
    }
    if (message.perRecipientMessageId) {
        messageData['h:Message-Id'] = `<%recipient.${RECIPIENT_MESSAGE_ID_VARIABLE}%>`;
    }

    const started = process.hrtime.bigint();
    try {
        const response = await mailgunInstance.messages.create(domain, messageData);
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        return {ok: true, id: response.id, response, ms, recipientData};
    } catch (error) {
        return {ok: false, error: describeError(error), recipientData};
    }
}

// -- Ghost's MailgunClient.normalizeEvent() -------------------------------------------------------
function normalizeEvent(event) {
    const providerId = event?.message?.headers['message-id'];
    if (!providerId && !(event['user-variables'] && event['user-variables']['email-id'])) {
        return null;
    }
    return {
        id: event.id,
        type: event.event,
        severity: event.severity,
        recipientEmail: event.recipient,
        emailId: event['user-variables'] && event['user-variables']['email-id'],
        providerId: providerId,
        timestamp: new Date(event.timestamp * 1000),
        error: event['delivery-status'] && (typeof (event['delivery-status'].message || event['delivery-status'].description) === 'string') ? {
            code: event['delivery-status'].code,
            message: (event['delivery-status'].message || event['delivery-status'].description).substring(0, 2000),
            enhancedCode: event['delivery-status']['enhanced-code']?.toString()?.substring(0, 50) ?? null
        } : null
    };
}

// -- Ghost's MailgunClient.#fetchEventsFromDomain() -----------------------------------------------
// The loop is Ghost's; it also records each page (raw items, the next token) for the test, and
// stops after `maxPages` pages so that a gateway that never returns an empty page fails the test
// instead of hanging it.
async function fetchEvents(config, call) {
    const mailgunInstance = getInstance(config);
    const domain = call.domain || config.domain;
    const mailgunOptions = call.options;
    const maxPages = call.maxPages || 200;
    const startDate = new Date();
    const pages = [];
    const batches = [];
    try {
        let page = await mailgunInstance.events.get(domain, mailgunOptions);
        pages.push(recordPage(page));
        let events = (page?.items?.map(normalizeEvent) || []).filter(e => !!e && e.timestamp <= startDate);
        while (events.length !== 0) {
            batches.push(events);
            if (pages.length >= maxPages) {
                return {ok: true, pages, batches, exhausted: false};
            }
            const nextPageId = page.pages.next.page;
            page = await mailgunInstance.events.get(domain, {
                page: nextPageId,
                ...mailgunOptions
            });
            pages.push(recordPage(page));
            events = (page?.items?.map(normalizeEvent) || []).filter(e => !!e && e.timestamp <= startDate);
        }
        return {ok: true, pages, batches, exhausted: true};
    } catch (error) {
        return {ok: false, error: describeError(error), stack: error && error.stack ? String(error.stack) : null, pages, batches};
    }
}

function recordPage(page) {
    const links = {};
    for (const [name, value] of Object.entries(page?.pages || {})) {
        links[name] = {page: value.page, url: value.url, id: value.id};
    }
    return {items: page?.items || [], links, status: page?.status};
}

// -- Ghost's MailgunClient.removeSuppression() ----------------------------------------------------
async function removeSuppression(config, call) {
    const instance = getInstance(config);
    try {
        const response = await instance.suppressions.destroy(call.domain || config.domain, call.type, call.email);
        return {ok: true, removed: true, response};
    } catch (error) {
        return {ok: false, removed: false, error: describeError(error)};
    }
}

async function create(config, call) {
    const instance = getInstance(config);
    try {
        const response = await instance.messages.create(call.domain || config.domain, call.data);
        return {ok: true, id: response.id, response};
    } catch (error) {
        return {ok: false, error: describeError(error)};
    }
}

async function suppressions(config, call) {
    const instance = getInstance(config);
    const args = call.args || [];
    try {
        const response = await instance.suppressions[call.method](call.domain || config.domain, call.type, ...args);
        return {ok: true, response};
    } catch (error) {
        return {ok: false, error: describeError(error)};
    }
}

async function eventsGet(config, call) {
    const instance = getInstance(config);
    try {
        const page = await instance.events.get(call.domain || config.domain, call.query || {});
        return {ok: true, page: recordPage(page)};
    } catch (error) {
        return {ok: false, error: describeError(error)};
    }
}

const OPS = {send, fetchEvents, removeSuppression, create, suppressions, eventsGet};

async function readInput() {
    if (process.argv[2]) {
        return JSON.parse(process.argv[2]);
    }
    const chunks = [];
    for await (const chunk of process.stdin) {
        chunks.push(chunk);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

async function main() {
    const input = await readInput();
    const config = {url: input.url, key: input.key, domain: input.domain};
    const results = [];
    for (const call of input.calls) {
        const op = OPS[call.op];
        if (!op) {
            results.push({ok: false, error: {message: `unknown op ${call.op}`}});
            continue;
        }
        const callConfig = {...config, ...(call.key !== undefined ? {key: call.key} : {})};
        results.push(await op(callConfig, call));
    }
    process.stdout.write(JSON.stringify({results}));
}

main().catch((error) => {
    process.stderr.write(String(error && error.stack ? error.stack : error));
    process.exit(2);
});
