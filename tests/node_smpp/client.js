// node-smpp as an ESME, driven by a line protocol: one JSON command per line on stdin, one
// JSON answer per line on stdout, in order. Used by tests/test_smpp_server_node.py.
//
// Commands ({"op": ..., "s": session name, ...}):
//   connect {host, port}            open a session
//   bind {mode, system_id, password} bind_<mode>; answers {status}
//   answer {on}                     answer deliver_sm (the default) or leave them unanswered
//   submit {pdu}                    one submit_sm; answers {status, message_id}
//   long {pdu, text, ref}           text as UCS-2 parts of 67 characters, each a submit_sm with
//                                   a UDH concatenation header (8-bit reference ref), sent
//                                   together; answers [{status, message_id}] in part order
//   flood {pdu, n}                  n submit_sm in one write, no waiting; answers [{status}]
//   deliveries {n}                  the next n deliver_sm received (answered or not)
//   count                           how many deliver_sm arrived and wait to be read
//   ping                            enquire_link and its answer: all before it was handled
//   close                           unbind (when bound) and close
"use strict";

const readline = require("readline");
const smpp = require("smpp");

const sessions = new Map();

function plain(value) {
  if (Buffer.isBuffer(value)) return { hex: value.toString("hex") };
  if (value && typeof value === "object" && "message" in value) {
    const msg = value.message;
    return {
      message: Buffer.isBuffer(msg) ? { hex: msg.toString("hex") } : msg,
      udh: (value.udh || []).map((u) => u.toString("hex")),
    };
  }
  return value;
}

function describe(pdu) {
  const out = {};
  for (const [k, v] of Object.entries(pdu)) {
    if (k !== "command_length") out[k] = plain(v);
  }
  return out;
}

function request(session, command, fields) {
  return new Promise((resolve) => session.sess[command](fields, (pdu) => resolve(pdu)));
}

function open(name, host, port) {
  return new Promise((resolve, reject) => {
    const sess = smpp.connect({ host, port }, () => resolve(state));
    const state = { sess, inbox: [], waiters: [], answer: true, closed: false };
    sess.on("error", (err) => {
      if (!state.closed) reject(err);
    });
    sess.on("close", () => {
      state.closed = true;
    });
    sess.on("deliver_sm", (pdu) => {
      if (state.answer) sess.send(pdu.response());
      state.inbox.push(describe(pdu));
      const waiter = state.waiters[0];
      if (waiter && state.inbox.length >= waiter.n) {
        state.waiters.shift();
        waiter.resolve(state.inbox.splice(0, waiter.n));
      }
    });
    sessions.set(name, state);
  });
}

async function handle(cmd) {
  const s = sessions.get(cmd.s || "a");
  switch (cmd.op) {
    case "connect":
      await open(cmd.s || "a", cmd.host, cmd.port);
      return { ok: true };
    case "bind": {
      const pdu = await request(s, "bind_" + cmd.mode, {
        system_id: cmd.system_id,
        password: cmd.password,
      });
      s.bound = pdu.command_status === 0;
      return { status: pdu.command_status, system_id: pdu.system_id };
    }
    case "answer":
      s.answer = cmd.on;
      return { ok: true };
    case "submit": {
      const pdu = await request(s, "submit_sm", cmd.pdu);
      return { status: pdu.command_status, message_id: pdu.message_id };
    }
    case "long": {
      const chunks = cmd.text.match(/[\s\S]{1,67}/g);
      const sent = chunks.map((chunk, i) =>
        request(s, "submit_sm", {
          ...cmd.pdu,
          data_coding: 8,
          short_message: {
            udh: Buffer.from([5, 0, 3, cmd.ref, chunks.length, i + 1]),
            message: chunk,
          },
        }),
      );
      const resps = await Promise.all(sent);
      return resps.map((p) => ({ status: p.command_status, message_id: p.message_id }));
    }
    case "flood": {
      const sent = [];
      s.sess.socket.cork();
      for (let i = 0; i < cmd.n; i++) {
        sent.push(request(s, "submit_sm", { ...cmd.pdu, short_message: `flood ${i}` }));
      }
      s.sess.socket.uncork();
      const resps = await Promise.all(sent);
      return resps.map((p) => ({ status: p.command_status, message_id: p.message_id }));
    }
    case "deliveries":
      if (s.inbox.length >= cmd.n) return s.inbox.splice(0, cmd.n);
      return await new Promise((resolve) => s.waiters.push({ n: cmd.n, resolve }));
    case "count":
      return { n: s.inbox.length };
    case "ping": {
      const pdu = await request(s, "enquire_link", {});
      return { command: pdu.command };
    }
    case "close":
      if (s.bound && !s.closed) await request(s, "unbind", {});
      await new Promise((resolve) => (s.closed ? resolve() : s.sess.close(resolve)));
      sessions.delete(cmd.s || "a");
      return { ok: true };
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      answer = { ok: true, result: await handle(JSON.parse(line)) };
    } catch (err) {
      answer = { ok: false, error: String(err && err.message ? err.message : err) };
    }
    process.stdout.write(JSON.stringify(answer) + "\n");
  }
  for (const s of sessions.values()) s.sess.destroy();
}

main();
