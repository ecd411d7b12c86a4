"""The page's CSS and its one script (citation markers jump to their passage; Copy puts an
answer and its sources on the clipboard)."""

from __future__ import annotations

from ui.conversations import REVISION_KEY

CSS = """
#cb-header { padding: 4px 2px 0; }
#cb-header h1 { font-size: 1.6rem; margin: 0 0 2px; letter-spacing: -0.01em; }
#cb-header p { margin: 0; color: var(--body-text-color-subdued); }
#cb-footer { text-align: center; font-size: 0.8rem; color: var(--body-text-color-subdued); }
#cb-footer a { color: inherit; }

/* example questions in the empty chat: cards */
#cb-chat button.example { border: 1px solid var(--border-color-primary) !important;
  border-radius: 10px; background: var(--background-fill-secondary) !important;
  text-align: left; transition: border-color 0.15s, box-shadow 0.15s; }
#cb-chat button.example:hover { border-color: var(--color-accent, #6366f1) !important;
  box-shadow: 0 1px 6px rgba(99, 102, 241, 0.18); }

/* chat messages */
.cb-question { margin: 0; white-space: pre-wrap; }
.cb-answer p { margin: 0 0 0.45em; }
.cb-answer p.cb-direct { font-weight: 600; font-size: 1.04em; }
.cb-answer ul { margin: 0.2em 0 0.45em; padding-left: 1.2em; }
.cb-answer li { margin: 0.25em 0; }
.cb-head { display: flex; gap: 6px; align-items: center; margin-bottom: 6px; }
.cb-head:empty { display: none; }
.cb-meta { margin-top: 6px; font-size: 0.78rem; color: var(--body-text-color-subdued); }
.cb-cite { font-size: 0.72em; line-height: 0; margin-left: 1px; }
.cb-cite a, .cb-cite > a:not([href]) { display: inline-block; padding: 0 4px;
  border-radius: 4px; font-weight: 700; line-height: 1.5; text-decoration: none !important;
  color: #4338ca !important; background: rgba(99, 102, 241, 0.14); cursor: pointer; }
.cb-cite a:hover { background: rgba(99, 102, 241, 0.3); }
.dark .cb-cite a { color: #c7d2fe !important; background: rgba(129, 140, 248, 0.25); }
.cb-cursor { display: inline-block; width: 0.5em; height: 1em; margin-left: 2px;
  vertical-align: text-bottom; background: currentColor; opacity: 0.5;
  animation: cb-blink 1s steps(2, start) infinite; }
@keyframes cb-blink { to { visibility: hidden; } }
.cb-pending { color: var(--body-text-color-subdued); font-style: italic; }
.cb-dots::after { content: " …"; }

/* question-kind tags */
.cb-tag { display: inline-block; font-size: 0.7rem; font-weight: 600; line-height: 1.5;
  text-transform: uppercase; letter-spacing: 0.04em; padding: 0 7px; border-radius: 999px;
  border: 1px solid currentColor; white-space: nowrap; }
.cb-tag-timeline { color: #2563eb; }
.cb-tag-degree { color: #7c3aed; }
.cb-tag-salary { color: #059669; }
.cb-tag-tooling { color: #c2410c; }
.cb-tag-other { color: #64748b; }

/* abstentions and problems: never mistaken for an answer */
.cb-abstain { border: 1px solid #f59e0b; border-left-width: 5px; border-radius: 8px;
  background: rgba(245, 158, 11, 0.10); padding: 8px 12px; }
.cb-abstain-label { font-weight: 700; color: #b45309; }
.cb-abstain-label::before { content: "!"; display: inline-flex; align-items: center;
  justify-content: center; width: 1.15em; height: 1.15em; margin-right: 6px;
  border-radius: 50%; background: #f59e0b; color: #fff; font-size: 0.8em; }
.dark .cb-abstain-label { color: #fbbf24; }
.cb-notice { border: 1px solid #ef4444; border-left-width: 5px; border-radius: 8px;
  background: rgba(239, 68, 68, 0.08); padding: 8px 12px; }
.cb-notice.cb-busy, .cb-notice.cb-info { border-color: #3b82f6;
  background: rgba(59, 130, 246, 0.08); }
/* inside the chat the note's frame is the message bubble itself, not a box in a box */
#cb-chat .message.bot:has(.cb-abstain) { border: 1px solid #f59e0b !important;
  border-left: 5px solid #f59e0b !important; background: #fef6e7 !important; }
#cb-chat .message.bot:has(.cb-notice) { border: 1px solid #ef4444 !important;
  border-left: 5px solid #ef4444 !important; background: #fef2f2 !important; }
#cb-chat .message.bot:has(.cb-busy), #cb-chat .message.bot:has(.cb-info) {
  border-color: #3b82f6 !important; background: #eff6ff !important; }
.dark #cb-chat .message.bot:has(.cb-abstain) { background: rgba(245, 158, 11, 0.12) !important; }
.dark #cb-chat .message.bot:has(.cb-notice) { background: rgba(239, 68, 68, 0.12) !important; }
.dark #cb-chat .message.bot:has(.cb-busy), .dark #cb-chat .message.bot:has(.cb-info) {
  background: rgba(59, 130, 246, 0.12) !important; }
#cb-chat .message.bot .cb-abstain, #cb-chat .message.bot .cb-notice { border: 0;
  background: none; padding: 4px 0; }
.cb-notice-title { font-weight: 700; margin-bottom: 2px; }
.cb-notice p { margin: 0; }

/* sources panel */
#cb-sources { overflow-y: auto; }
.cb-sources { font-size: 0.9rem; }
.cb-src-head, .cb-src-turn > summary { font-weight: 600; margin: 2px 0 6px; }
.cb-src-turn > summary { cursor: pointer; color: var(--body-text-color-subdued); }
.cb-src-turn + .cb-src-turn { border-top: 1px solid var(--border-color-primary);
  padding-top: 6px; margin-top: 6px; }
.cb-src-q { margin-right: 4px; }
.cb-src-list { list-style: none; padding: 0; margin: 0; }
.cb-src { padding: 8px 10px; margin: 0 0 8px; border-radius: 8px;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary);
  transition: box-shadow 0.3s, border-color 0.3s; scroll-margin: 12px; }
.cb-src:target, .cb-src.cb-flash { border-color: var(--color-accent, #4f46e5);
  box-shadow: 0 0 0 3px rgba(99, 102, 241, 0.35); }
.cb-src-title { font-weight: 600; }
.cb-src-title a { color: var(--link-text-color, #4f46e5); }
.cb-src-n { color: var(--color-accent, #4f46e5); margin-right: 2px; }
.cb-src-section { font-size: 0.8rem; color: var(--body-text-color-subdued); margin-top: 2px; }
#cb-sources .cb-quote { margin: 6px 0 4px !important; padding: 2px 0 2px 10px !important;
  border-left: 3px solid var(--color-accent, #6366f1); font-style: italic; }
.cb-panel-title { font-weight: 700; font-size: 1rem; margin: 0 0 8px; }
.cb-src-where { font-size: 0.7rem; color: var(--body-text-color-subdued);
  font-family: var(--font-mono); }
.cb-empty { color: var(--body-text-color-subdued); margin: 4px 0; }

/* an answer's footer: its facts, and Copy */
.cb-meta { display: flex; align-items: center; justify-content: space-between; gap: 8px; }
.cb-copy { font-size: 0.75rem; padding: 1px 8px; border-radius: 6px; cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-primary);
  color: var(--body-text-color-subdued); }
.cb-copy:hover { border-color: var(--color-accent, #6366f1); color: var(--body-text-color); }
.cb-md { display: none !important; }

/* sidebar */
#cb-history label { white-space: normal; }
.cb-export { display: inline-block; margin: 4px 0; font-weight: 600;
  color: var(--link-text-color, #4f46e5); }
.cb-export-off { color: var(--body-text-color-subdued); font-weight: 400; }
#cb-sidebar-note { font-size: 0.78rem; color: var(--body-text-color-subdued); }

/* the Inspect tab */
.cb-ins-query { margin: 0 0 8px; }
.cb-ins-cols { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 12px; }
@media (max-width: 900px) { .cb-ins-cols { grid-template-columns: minmax(0, 1fr); } }
.cb-ins-col h3 { margin: 0; font-size: 1rem; }
.cb-ins-what { margin: 0 0 8px; font-size: 0.78rem; color: var(--body-text-color-subdued); }
.cb-ins-list { list-style: none; padding: 0; margin: 0; }
.cb-ins-hit { padding: 8px 10px; margin: 0 0 8px; border-radius: 8px; font-size: 0.86rem;
  border: 1px solid var(--border-color-primary); background: var(--background-fill-secondary); }
.cb-ins-head { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; }
.cb-ins-score { font-family: var(--font-mono); font-size: 0.78rem; }
.cb-rank { font-size: 0.7rem; padding: 0 6px; border-radius: 999px;
  border: 1px solid var(--border-color-primary); white-space: nowrap; }
.cb-miss { color: var(--body-text-color-subdued); opacity: 0.7; }
.cb-ins-terms { font-size: 0.78rem; margin: 2px 0 4px; }
.cb-term { display: inline-block; padding: 0 5px; margin-right: 2px; border-radius: 4px;
  background: rgba(250, 204, 21, 0.3); }
.cb-ins-text { white-space: pre-wrap; }
.cb-ins-text mark { background: rgba(250, 204, 21, 0.45); color: inherit; padding: 0 1px; }
"""

# Markers link to "#cite-<turn>-<n>"; the handler opens a folded answer's sources, scrolls
# the passage into view and flashes it, whatever the chat's renderer does with links.
HEAD = """
<script>
document.addEventListener("click", function (e) {
  var a = e.target && e.target.closest ? e.target.closest("a[href^='#cite-']") : null;
  if (!a) return;
  var id = a.getAttribute("href").slice(1);
  var el = document.getElementById(id);
  if (!el) return;
  e.preventDefault();
  e.stopPropagation();
  var d = el.closest("details");
  if (d) d.open = true;
  el.scrollIntoView({behavior: "smooth", block: "nearest"});
  el.classList.remove("cb-flash");
  void el.offsetWidth;
  el.classList.add("cb-flash");
  setTimeout(function () { el.classList.remove("cb-flash"); }, 2500);
}, true);

// Copy: the answer and its numbered sources as Markdown, from the hidden element next to
// the button (ui.render). Gradio's own copy button would copy the message's HTML, and a
// Chatbot cannot be told to copy anything else, hence this handler.
document.addEventListener("click", function (e) {
  var b = e.target && e.target.closest ? e.target.closest("button.cb-copy") : null;
  if (!b) return;
  var md = b.parentNode && b.parentNode.querySelector(".cb-md");
  if (!md) return;
  e.preventDefault();
  e.stopPropagation();
  var text = md.textContent;
  function done() {
    b.textContent = "Copied";
    setTimeout(function () { b.textContent = "Copy"; }, 1500);
  }
  function fallback() {  // no Clipboard API (a plain-http page on another host)
    var t = document.createElement("textarea");
    t.value = text;
    t.style.position = "fixed";
    t.style.left = "-9999px";
    document.body.appendChild(t);
    t.select();
    try { document.execCommand("copy"); done(); } finally { t.remove(); }
  }
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, fallback);
  } else {
    fallback();
  }
}, true);

// Saved conversations are one localStorage value (gr.BrowserState) that a tab reads only
// when the page loads; Gradio has nothing to keep open tabs in step. Every save stamps
// REVISION_KEY (ui.conversations), and a tab that sees another tab's stamp reloads the
// next time it is looked at or clicked, before it can write its stale copy over it.
(function () {
  var stale = false;
  window.addEventListener("storage", function (e) {
    if (e.key === "__REVISION_KEY__") stale = true;
  });
  function fresh() {
    if (stale) { stale = false; location.reload(); }
  }
  window.addEventListener("focus", fresh);
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) fresh();
  });
  document.addEventListener("pointerdown", fresh, true);
})();
</script>
""".replace("__REVISION_KEY__", REVISION_KEY)
