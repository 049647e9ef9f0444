// The sandbox page: a staff member's private chat (and the announcement channel, as they read
// it) on the left; on the right a helper's view of the helpers' forum group (General and one
// topic per question), their private chat with the bot, and the announcement channel. It polls the sandbox's person-side API.
"use strict";

const T = {
  fi: {
    tagline: "— paikallinen Telegram-harjoitusympäristö. Mikään ei lähde tältä koneelta.",
    offline: "Yhteys botin sandboxiin katkesi hetkeksi – yritän uudelleen…",
    pageLanguage: "Sivun kieli", staffTitle: "Henkilökunnan jäsenen yksityinen keskustelu",
    newPerson: "Uusi henkilö", name: "Nimi", userId: "Käyttäjä-id", appLanguage: "Telegramin kieli", send: "Lähetä",
    askPlaceholder: "Kirjoita kysymyksesi…", attach: "Liitä kuva, tiedosto tai ääniviesti",
    staffHint: "Kokeile: /start, /anon, ”Unohdin salasanani”, ”Miten HOKS päivitetään?”",
    helpersTitle: "Tukijat", youAre: "Olet", tabGroup: "Tukiryhmä", tabPrivate: "Yksityinen keskustelu",
    tabChannel: "Tiedotekanava", answerPlaceholder: "Vastaa (! alussa: muistiinpano; /close sulkee)",
    privatePlaceholder: "Kirjoita botille (esim. /queue, /newevent)…",
    helpersHint: "Tukijat tulevat tiedostosta data/helpers.example.yaml. Painikkeita painetaan valitun henkilön nimissä.",
    general: "Yleinen", waiting: "odottaa", held: "työn alla", closed: "suljettu",
    reply: "Vastaa", replyingTo: "Vastaat viestiin:", noMessages: "Ei vielä viestejä.",
    photo: "kuva", voice: "ääniviesti", document: "tiedosto", sticker: "tarra", video: "video",
    edited: "muokattu", ok: "OK", channelReadOnly: "Kanavaa voi vain lukea.", staff: "henkilökunta",
  },
  sv: {
    tagline: "— en lokal övningsmiljö i stället för Telegram. Inget lämnar den här datorn.",
    offline: "Anslutningen till sandlådan bröts en stund – försöker igen…",
    pageLanguage: "Sidans språk", staffTitle: "En anställds privata chatt",
    newPerson: "Ny person", name: "Namn", userId: "Användar-id", appLanguage: "Telegrams språk", send: "Skicka",
    askPlaceholder: "Skriv din fråga…", attach: "Bifoga bild, fil eller röstmeddelande",
    staffHint: "Prova: /start, /anon, ”Hur gör jag en PUK?”, ”Vårt teammöte drar ut på tiden”",
    helpersTitle: "Stödpersoner", youAre: "Du är", tabGroup: "Stödgruppen", tabPrivate: "Privat chatt",
    tabChannel: "Kanal för meddelanden", answerPlaceholder: "Svara (! först: anteckning; /close stänger)",
    privatePlaceholder: "Skriv till boten (t.ex. /queue, /newevent)…",
    helpersHint: "Stödpersonerna kommer från data/helpers.example.yaml. Knappar trycks som den valda personen.",
    general: "Allmänt", waiting: "väntar", held: "pågår", closed: "stängd",
    reply: "Svara", replyingTo: "Du svarar på:", noMessages: "Inga meddelanden än.",
    photo: "bild", voice: "röstmeddelande", document: "fil", sticker: "klistermärke", video: "video",
    edited: "redigerad", ok: "OK", channelReadOnly: "Kanalen kan bara läsas.", staff: "personal",
  },
  en: {
    tagline: "— a local stand-in for Telegram. Nothing leaves this machine.",
    offline: "The sandbox is away for a moment (a restart?) – trying again…",
    pageLanguage: "Page language", staffTitle: "A staff member's private chat",
    newPerson: "New person", name: "Name", userId: "User id", appLanguage: "Telegram language", send: "Send",
    askPlaceholder: "Write your question…", attach: "Attach a photo, file or voice note",
    staffHint: "Try: /start, /anon, “I forgot my password”, “Our team meetings run late”",
    helpersTitle: "Helpers", youAre: "You are", tabGroup: "Helpers' group", tabPrivate: "Private chat",
    tabChannel: "Announcement channel", answerPlaceholder: "Answer (start with ! for a note; /close closes)",
    privatePlaceholder: "Write to the bot (e.g. /queue, /newevent)…",
    helpersHint: "Helpers come from data/helpers.example.yaml. Buttons are pressed as the person chosen above.",
    general: "General", waiting: "waiting", held: "in hand", closed: "closed",
    reply: "Reply", replyingTo: "Replying to:", noMessages: "No messages yet.",
    photo: "photo", voice: "voice note", document: "file", sticker: "sticker", video: "video",
    edited: "edited", ok: "OK", channelReadOnly: "The channel can only be read.", staff: "staff",
  },
};

const $ = (id) => document.getElementById(id);
const state = {
  lang: localStorage.getItem("sandbox.lang") ||
    (["fi", "sv", "en"].includes(navigator.language.slice(0, 2)) ? navigator.language.slice(0, 2) : "fi"),
  tab: "group", staffTab: "private", group: null, thread: "general", channel: null, world: null,
  shown: {}, replyTo: {staff: null, helpers: null}, notice: 0,
};
const t = (key) => (T[state.lang] || T.en)[key] || T.en[key] || key;

function translate() {
  document.documentElement.lang = state.lang;
  for (const el of document.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of document.querySelectorAll("[data-tp]")) el.placeholder = t(el.dataset.tp);
  for (const el of document.querySelectorAll("[data-tt]")) el.title = t(el.dataset.tt);
  $("gtext").placeholder = state.tab === "private" ? t("privatePlaceholder") : t("answerPlaceholder");
  state.shown = {};
}

// While `make run` restarts the sandbox is briefly away: the page waits and goes on.
const api = async (path, options) => {
  try {
    const response = await fetch(path, options);
    document.body.classList.remove("offline");
    return response.ok ? response.json() : null;
  } catch (error) {
    document.body.classList.add("offline");
    return null;
  }
};
const post = (path, body) => api(path, {method: "POST", body: JSON.stringify(body)});
const seenKey = (chat, thread) => `sandbox.seen.${chat}.${thread}`;
const seen = (chat, thread) => Number(localStorage.getItem(seenKey(chat, thread)) || 0);
const markSeen = (chat, thread, count) => localStorage.setItem(seenKey(chat, thread), String(count));
const helperId = () => $("helper").value;

function summary(m) {
  if (!m) return "";
  for (const kind of ["photo", "voice", "video", "document", "sticker"]) {
    if (m[kind]) return (m.caption ? m.caption + " " : "") + `[${t(kind)}]`;
  }
  return m.text || m.caption || (m.contact ? "📞 " + m.contact.phone_number : "");
}

function media(m) {
  const url = (file) => `/sandbox/files/${encodeURIComponent(file.file_id)}`;
  const placeholder = (kind) => {
    const span = document.createElement("div"); span.textContent = `[${t(kind)}]`; return span;
  };
  if (m.photo) {
    const img = document.createElement("img");
    img.src = url(m.photo[m.photo.length - 1]); img.alt = t("photo");
    img.onerror = () => img.replaceWith(placeholder("photo"));
    return img;
  }
  if (m.voice || m.audio) {
    const audio = document.createElement("audio"); audio.controls = true;
    audio.src = url(m.voice || m.audio); audio.className = "voice";
    return audio;
  }
  if (m.video) {
    const video = document.createElement("video"); video.controls = true; video.src = url(m.video);
    return video;
  }
  if (m.document) {
    const a = document.createElement("a"); a.className = "file"; a.href = url(m.document);
    a.download = m.document.file_name || "file"; a.textContent = "📄 " + (m.document.file_name || t("document"));
    return a;
  }
  if (m.sticker) return placeholder("sticker");
  return null;
}

// One message as Telegram shows it: sender, quoted reply, media, text, buttons, time, Reply.
function bubble(m, viewer, pane, actAs) {
  const row = document.createElement("div"); row.className = "row";
  const div = document.createElement("div");
  row.appendChild(div);
  row.dataset.messageId = m.message_id;
  if (Object.keys(m).some((k) => k.startsWith("forum_topic_"))) {
    div.className = "msg service";
    div.textContent = m.forum_topic_closed ? "🔒 " + t("closed") : "↻";
    return row;
  }
  const isBot = m.from && m.from.is_bot;
  const mine = !isBot && m.from && String(m.from.id) === String(viewer);
  div.className = "msg " + (isBot ? "bot" : (mine ? "me" : "other"));
  if (!isBot && !mine && m.from) {
    const who = document.createElement("div"); who.className = "who"; who.textContent = m.from.first_name;
    div.appendChild(who);
  }
  if (m.reply_to_message) {
    const quote = document.createElement("div"); quote.className = "quote";
    quote.textContent = summary(m.reply_to_message);
    div.appendChild(quote);
  }
  const attached = media(m);
  if (attached) div.appendChild(attached);
  const text = m.text || m.caption || (m.contact ? "📞 " + m.contact.phone_number : "");
  if (text) {
    const body = document.createElement("div"); body.className = "text"; body.textContent = text;
    div.appendChild(body);
  }
  const chatId = m.chat.id;
  for (const line of (m.reply_markup && m.reply_markup.inline_keyboard) || []) {
    const p = document.createElement("div"); p.className = "kbd";
    for (const b of line) {
      const btn = document.createElement("button"); btn.className = "kb"; btn.textContent = b.text;
      // A link to the bot with a code (an invitation, the staff link) is opened as Telegram
      // would: the staff member on the left sends /start <code>.
      const code = b.url && BOT_LINK.exec(b.url);
      if (code) btn.onclick = () => openLink(code[1]);
      else if (b.url) btn.onclick = () => window.open(b.url, "_blank");
      else btn.onclick = async () => {
        const who = pane === "staff" ? {first_name: $("name").value, language_code: $("lc").value} : {};
        await post(`/sandbox/api/users/${actAs()}/press`,
          {chat_id: chatId, message_id: m.message_id, data: b.callback_data, ...who});
        refresh();
      };
      p.appendChild(btn);
    }
    div.appendChild(p);
  }
  for (const line of (m.client_markup && m.client_markup.keyboard) || []) {
    const p = document.createElement("div"); p.className = "kbd";
    for (const b of line) {
      const btn = document.createElement("button"); btn.className = "kb"; btn.textContent = b.text;
      btn.onclick = async () => {
        await post(`/sandbox/api/users/${actAs()}/messages`,
          b.request_contact ? {contact: "+358 40 000 0000"} : {text: b.text});
        refresh();
      };
      p.appendChild(btn);
    }
    div.appendChild(p);
  }
  const meta = document.createElement("div"); meta.className = "meta";
  const time = new Date(m.date * 1000);
  const stamp = document.createElement("span");
  stamp.textContent = (m.edit_date ? t("edited") + " " : "") +
    time.toLocaleTimeString(state.lang, {hour: "2-digit", minute: "2-digit"});
  const reply = document.createElement("button"); reply.type = "button"; reply.className = "reply-action";
  reply.textContent = "↩ " + t("reply");
  reply.onclick = () => startReply(pane, m);
  meta.append(stamp, reply);
  div.appendChild(meta);
  return row;
}

const BOT_LINK = /^https:\/\/t\.me\/\w+\?start=([A-Za-z0-9_-]{1,64})$/;

async function openLink(code) {
  await post(`/sandbox/api/users/${$("uid").value}/messages`,
    {text: `/start ${code}`, first_name: $("name").value, language_code: $("lc").value});
  refresh();
}

// Someone who has never written to the bot, on the left: to open an invitation as them.
function newPerson() {
  const ids = ((state.world && state.world.people) || []).map((p) => Number(p.id));
  const id = Math.max(5000, ...ids) + 1;
  const names = ["Aino", "Eero", "Helmi", "Onni", "Siiri", "Väinö", "Ella", "Leo"];
  $("uid").value = id; $("name").value = names[id % names.length];
  for (const key of ["name", "uid"]) localStorage.setItem("sandbox.staff." + key, $(key).value);
  state.shown = {}; refresh();
}

function startReply(pane, m) {
  state.replyTo[pane] = m.message_id;
  const bar = $(pane === "staff" ? "replying" : "greplying");
  bar.hidden = false;
  bar.querySelector("span").textContent = t("replyingTo") + " " + summary(m);
  $(pane === "staff" ? "text" : "gtext").focus();
}

function stopReply(pane) {
  state.replyTo[pane] = null;
  $(pane === "staff" ? "replying" : "greplying").hidden = true;
}

function render(logId, key, messages, make) {
  const signature = JSON.stringify(messages) + key + state.lang;
  if (state.shown[logId] === signature) return;
  state.shown[logId] = signature;
  const log = $(logId);
  const fresh = !log.dataset.key || log.dataset.key !== key;
  log.dataset.key = key;
  log.replaceChildren(...messages.map(make));
  if (!messages.length) {
    const empty = document.createElement("p"); empty.className = "empty"; empty.textContent = t("noMessages");
    log.appendChild(empty);
  }
  if (fresh) log.dataset.stick = "yes";
  if (log.dataset.stick !== "no") log.scrollTop = log.scrollHeight;
  // A picture loads after the scroll and makes the chat taller: the end stays in view.
  for (const img of log.querySelectorAll("img")) {
    img.addEventListener("load", () => {
      if (log.dataset.stick !== "no") log.scrollTop = log.scrollHeight;
    }, {once: true});
  }
}

// A chat follows its newest message until the person scrolls up to read, and again once they
// scroll back down to the end.
for (const id of ["log", "glog"]) {
  const log = $(id);
  log.addEventListener("scroll", () => {
    log.dataset.stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40 ? "yes" : "no";
  });
}

function people(world) {
  const select = $("helper");
  const known = world.people.filter((p) => p.label !== null && p.label !== undefined);
  const options = known.map((p) => `${p.id}:${p.first_name} · ${p.label}`).join("|");
  if (select.dataset.options === options) return;
  const chosen = select.value || localStorage.getItem("sandbox.helper");
  select.dataset.options = options;
  select.replaceChildren(...known.map((p) => new Option(`${p.first_name} — ${p.label}`, p.id)));
  if (chosen && known.some((p) => String(p.id) === String(chosen))) select.value = chosen;
}

function topicList(group) {
  const list = $("topics");
  list.hidden = state.tab !== "group";
  const items = [{id: "general", name: t("general"), state: "general", count: group.general},
                 ...group.topics];
  list.replaceChildren(...items.map((topic) => {
    const li = document.createElement("li");
    li.dataset.thread = topic.id;
    if (String(state.thread) === String(topic.id)) li.className = "sel";
    const name = document.createElement("span"); name.className = "name"; name.textContent = topic.name;
    const chip = document.createElement("span"); chip.className = "state " + topic.state;
    chip.textContent = topic.state === "general" ? "#" : t(topic.state);
    const unread = Math.max(0, topic.count - seen(group.id, topic.id));
    const badge = document.createElement("span"); badge.className = "badge";
    badge.textContent = unread && String(state.thread) !== String(topic.id) ? unread : "";
    li.append(name, chip, badge);
    li.onclick = () => { state.thread = topic.id; stopReply("helpers"); refresh(); };
    return li;
  }));
  const unreadTopics = items.filter((topic) => topic.count > seen(group.id, topic.id) &&
    String(state.thread) !== String(topic.id)).length;
  $("groupBadge").textContent = state.tab !== "group" || unreadTopics ? (unreadTopics || "") : "";
}

let refreshing = false, refreshAgain = false;
// One refresh at a time; one asked for meanwhile runs once the current one is done.
async function refresh() {
  if (refreshing) { refreshAgain = true; return; }
  refreshing = true;
  try {
    do { refreshAgain = false; await show(); } while (refreshAgain);
  } finally { refreshing = false; }
}

async function show() {
  const uid = $("uid").value;
  const world = await api("/sandbox/api/world");
  if (!world) return;
  state.world = world;
  people(world);
  state.group = world.groups.find((g) => g.is_forum) || world.groups[0] || null;
  state.channel = world.channels[0] || null;
  // The staff member reads the announcement channel too, and answers there as themselves.
  const staffChat = state.staffTab === "channel" && state.channel ? state.channel.id : uid;
  const staffMessages = (await api(`/sandbox/api/chats/${staffChat}/messages`)) || [];
  render("log", "staff" + uid + ":" + staffChat, staffMessages, (m) => bubble(m, uid, "staff", () => uid));
  $("f").hidden = state.staffTab === "channel";
  const helper = helperId();
  let messages = [], key = state.tab;
  if (state.tab === "group" && state.group) {
    topicList(state.group);
    const all = (await api(`/sandbox/api/chats/${state.group.id}/messages`)) || [];
    const general = state.thread === "general";
    messages = all.filter((m) => general ? !m.message_thread_id
      : String(m.message_thread_id) === String(state.thread) && !m.forum_topic_created);
    const counted = messages.filter((m) => !Object.keys(m).some((k) => k.startsWith("forum_topic_")));
    markSeen(state.group.id, state.thread, counted.length);
    key += state.thread;
  } else {
    $("topics").hidden = true;
    if (state.group) topicList(state.group);
    $("topics").hidden = true;
    const chat = state.tab === "private" ? helper : (state.channel && state.channel.id);
    if (chat) messages = (await api(`/sandbox/api/chats/${chat}/messages`)) || [];
    key += chat;
  }
  render("glog", key, messages, (m) => bubble(m, helper, "helpers", helperId));
  const me = world.people.find((p) => String(p.id) === String(helper));
  if (me) {
    if (state.tab === "private") markSeen(helper, "private", me.count);
    const unread = me.count - seen(helper, "private");
    $("privateBadge").textContent = state.tab !== "private" && unread > 0 ? unread : "";
  }
  if (state.channel) {
    if (state.tab === "channel") markSeen(state.channel.id, "channel", state.channel.count);
    const unread = state.channel.count - seen(state.channel.id, "channel");
    $("channelBadge").textContent = state.tab !== "channel" && unread > 0 ? unread : "";
    if (state.staffTab === "channel") markSeen(state.channel.id, "staffchannel", state.channel.count);
    const fresh = state.channel.count - seen(state.channel.id, "staffchannel");
    $("staffChannelBadge").textContent = state.staffTab !== "channel" && fresh > 0 ? fresh : "";
  }
  $("g").hidden = state.tab === "channel";
  await notices(uid, helper);
}

// answerCallbackQuery: a toast that fades, or an alert with OK, in the presser's pane.
async function notices(uid, helper) {
  const fresh = (await api(`/sandbox/api/notices?after=${state.notice}`)) || [];
  for (const notice of fresh) {
    state.notice = Math.max(state.notice, notice.id);
    const pane = String(notice.user_id) === String(uid) ? $("staff")
      : String(notice.user_id) === String(helper) ? $("helpers") : null;
    if (!pane || state.firstNotices) continue;
    if (notice.alert) {
      const back = document.createElement("div"); back.className = "alert-back";
      const box = document.createElement("div"); box.className = "alert"; box.setAttribute("role", "alertdialog");
      const p = document.createElement("p"); p.textContent = notice.text;
      const ok = document.createElement("button"); ok.textContent = t("ok"); ok.onclick = () => back.remove();
      box.append(p, ok); back.appendChild(box); pane.appendChild(back);
    } else {
      const toast = document.createElement("div"); toast.className = "toast"; toast.setAttribute("role", "status");
      toast.textContent = notice.text;
      pane.querySelector(".toasts").appendChild(toast);
      setTimeout(() => { toast.style.opacity = "0"; }, 3500);
      setTimeout(() => toast.remove(), 4000);
    }
  }
  state.firstNotices = false;
}

async function sendFrom(pane, text, fileInput, target) {
  const replyTo = state.replyTo[pane];
  const file = fileInput.files[0];
  const who = pane === "staff" ? $("uid").value : helperId();
  if (file) {
    const form = new FormData();
    form.append("file", file, file.name);
    if (text) form.append("text", text);
    for (const [k, v] of Object.entries(target)) if (v) form.append(k, v);
    if (replyTo) form.append("reply_to", replyTo);
    await api(`/sandbox/api/users/${who}/messages`, {method: "POST", body: form});
    fileInput.value = "";
  } else if (text) {
    await post(`/sandbox/api/users/${who}/messages`, {text, reply_to: replyTo, ...target});
  } else {
    return;
  }
  stopReply(pane);
  refresh();
}

$("f").onsubmit = async (e) => {
  e.preventDefault();
  const text = $("text").value; $("text").value = "";
  await sendFrom("staff", text, $("file"),
    {first_name: $("name").value, language_code: $("lc").value});
};
$("file").onchange = () => { if ($("file").files.length) $("f").requestSubmit(); };
$("g").onsubmit = async (e) => {
  e.preventDefault();
  const text = $("gtext").value; $("gtext").value = "";
  const target = state.tab === "private" ? {} : {
    chat_id: state.group && state.group.id,
    thread_id: state.thread === "general" ? null : state.thread,
  };
  await sendFrom("helpers", text, $("gfile"), target);
};
$("gfile").onchange = () => { if ($("gfile").files.length) $("g").requestSubmit(); };
for (const pane of ["staff", "helpers"]) {
  $(pane === "staff" ? "replying" : "greplying").querySelector(".cancel").onclick = () => stopReply(pane);
}
for (const tab of document.querySelectorAll("[data-stafftab]")) {
  tab.onclick = () => {
    state.staffTab = tab.dataset.stafftab;
    for (const other of document.querySelectorAll("[data-stafftab]")) other.classList.toggle("sel", other === tab);
    stopReply("staff"); refresh();
  };
}
for (const tab of document.querySelectorAll("[data-tab]")) {
  tab.onclick = () => {
    state.tab = tab.dataset.tab;
    for (const other of document.querySelectorAll("[data-tab]")) other.classList.toggle("sel", other === tab);
    stopReply("helpers"); translate(); refresh();
  };
}
$("helper").onchange = () => { localStorage.setItem("sandbox.helper", helperId()); state.shown = {}; refresh(); };
// Who the staff member is stays as it was when the page is opened again.
for (const id of ["name", "uid", "lc"]) {
  const kept = localStorage.getItem("sandbox.staff." + id);
  if (kept) $(id).value = kept;
  $(id).addEventListener("change", () => {
    localStorage.setItem("sandbox.staff." + id, $(id).value); state.shown = {}; refresh();
  });
}
$("newPerson").onclick = newPerson;
$("pagelang").value = state.lang;
$("pagelang").onchange = () => {
  state.lang = $("pagelang").value; localStorage.setItem("sandbox.lang", state.lang); translate(); refresh();
};
// Pop-ups from before the page was opened are not shown again.
state.firstNotices = true;
translate();
refresh();
// The page shows a change as soon as the sandbox has one: it asks for the next change and
// waits (a long poll); while the sandbox is away (a restart) it asks again each second.
(async function watch() {
  let version = -1;
  for (;;) {
    const got = await api(`/sandbox/api/changes?after=${version}`);
    if (got) {
      if (got.version !== version) { version = got.version; await refresh(); }
    } else {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
})();
setInterval(refresh, 5000);  // what changes with no message (the clock in the texts) too
