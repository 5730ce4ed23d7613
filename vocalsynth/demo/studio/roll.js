// The studio's piano roll: runs as gr.HTML's js_on_load (element, trigger, props, watch are Gradio's).
// It edits props.value, the roll document of vocalsynth/demo/roll.py ({title, lang, tempos, time,
// notes: [{start, len, pitch, lyric}]}, beats are quarter notes), tells the page with trigger('input')
// after each edit and asks for a render with trigger('submit'); a render comes back in props.rendered
// (audio URL, rendered F0, each note's sung pitch), drawn over the notes and played with a playhead.
const STORE = 'vocalsynth-studio-v1';
const KEYW = 56, RULER = 22, EDGE = 6, MAXUNDO = 200;
const NAMES = ['C', 'C#', 'D', 'D#', 'E', 'F', 'F#', 'G', 'G#', 'A', 'A#', 'B'];
const $ = (sel) => element.querySelector(sel);
const stage = $('.vs-stage'), canvas = $('.vs-canvas'), ctx = canvas.getContext('2d');
const lyricBox = $('.vs-lyric'), statusEl = $('.vs-status');
const ui = {
  auto: $('.vs-auto'), loop: $('.vs-loop'), tool: $('.vs-tool'), snap: $('.vs-snap'),
  triplet: $('.vs-triplet'), tempo: $('.vs-tempo'), time: $('.vs-time'), lang: $('.vs-lang'), play: $('.vs-play'),
};
const st = {
  doc: null, notes: [], sel: new Set(), nextId: 1, undo: [], redo: [],
  ppb: 48, rowH: 14, x0: 0, top: 84, drag: null, editing: null,
  rendered: null, renderedKey: null, editAt: null, playFrom: null, latency: null, error: null, waiting: false,
};
const audio = new Audio();
audio.preload = 'auto';
let actx = null;

// --- the document ---------------------------------------------------------------------------------------
const pitchName = (p) => NAMES[p % 12] + (Math.floor(p / 12) - 1);
const sorted = () => st.notes.slice().sort((a, b) => a.start - b.start || a.pitch - b.pitch);
function plainDoc() {
  const d = st.doc || {};
  return {
    title: d.title ?? null, lang: d.lang || null, tempos: d.tempos || [[0, 120]], time: d.time || [4, 4],
    notes: sorted().map((n) => {
      const o = { start: +n.start.toFixed(6), len: +n.len.toFixed(6), pitch: n.pitch, lyric: n.lyric };
      if (n.lang) o.lang = n.lang;
      if (n.straight) o.straight = true;
      return o;
    }),
  };
}
const notesKey = (doc) => JSON.stringify((doc.notes || []).map((n) => [+n.start, +n.len, n.pitch, n.lyric, !!n.straight]));
function load(doc, keepView) {
  st.doc = { title: doc.title ?? null, lang: doc.lang || null, tempos: doc.tempos || [[0, 120]], time: doc.time || [4, 4] };
  st.notes = (doc.notes || []).map((n) => ({ ...n, start: +n.start, len: +n.len, id: st.nextId++ }));
  st.sel.clear();
  if (!keepView && st.notes.length) {
    const ps = st.notes.map((n) => n.pitch);
    const mid = (Math.min(...ps) + Math.max(...ps)) / 2;
    st.top = Math.min(127, Math.round(mid + rows() / 2));
    st.x0 = 0;
  }
  syncBar();
}
function syncBar() {
  ui.tempo.value = +(+(st.doc.tempos[0] || [0, 120])[1]).toFixed(2);  // a file's 91.9998 shows as 92
  ui.time.value = st.doc.time.join('/');
  ui.lang.value = st.doc.lang || '';
}
function snapshot() { return JSON.stringify(plainDoc()); }
function remember() {
  st.undo.push(st.lastSaved ?? snapshot());
  if (st.undo.length > MAXUNDO) st.undo.shift();
  st.redo = [];
}
// an edit is done: keep it (undo, this browser's storage), tell the page, render if asked
function commit(from) {
  st.restored = false;
  const now = snapshot();
  if (now === st.lastSaved) { draw(); return; }
  remember();
  st.lastSaved = now;
  publish(from);
}
function publish(from) {
  const doc = plainDoc();
  try { localStorage.setItem(STORE, JSON.stringify(doc)); } catch (e) { /* storage full or off: keep going */ }
  props.value = doc;
  trigger('input');
  if (ui.auto.checked && st.notes.length && !overlaps().size) requestRender(from);
  draw();
}
function restore(text, stack, other) {
  other.push(st.lastSaved ?? snapshot());
  load(JSON.parse(text), true);
  st.lastSaved = text;
  publish(null);
}
function undo() { if (st.undo.length) restore(st.undo.pop(), st.undo, st.redo); }
function redo() { if (st.redo.length) restore(st.redo.pop(), st.redo, st.undo); }

// --- geometry -------------------------------------------------------------------------------------------
const W = () => canvas.clientWidth, H = () => canvas.clientHeight;
const rows = () => Math.floor((H() - RULER) / st.rowH);
const xOf = (beat) => KEYW + (beat - st.x0) * st.ppb;
const yOf = (pitch) => RULER + (st.top - pitch) * st.rowH;
const beatAt = (x) => st.x0 + (x - KEYW) / st.ppb;
const pitchAt = (y) => st.top - Math.floor((y - RULER) / st.rowH);
const grid = () => +ui.snap.value * (ui.triplet.checked ? 2 / 3 : 1);
const snap = (beat) => Math.round(beat / grid()) * grid();
const snapDown = (beat) => Math.floor(beat / grid() + 1e-6) * grid();
const beatsPerBar = () => (st.doc.time[0] * 4) / st.doc.time[1];
function noteAt(x, y) {
  const b = beatAt(x), p = pitchAt(y);
  for (const n of st.notes) if (n.pitch === p && b >= n.start && b <= n.start + n.len) return n;
  return null;
}
function overlaps() {
  const bad = new Set(), s = sorted();
  for (let i = 1; i < s.length; i++) if (s[i].start < s[i - 1].start + s[i - 1].len - 1e-4) { bad.add(s[i].id); bad.add(s[i - 1].id); }
  return bad;
}
// song seconds <-> beats with the rendered tempo map
function beatsOf(sec, tempos) {
  let beat = 0, t = 0;
  for (let i = 0; i < tempos.length; i++) {
    const [b, bpm] = tempos[i], next = tempos[i + 1];
    const span = next ? ((next[0] - b) * 60) / bpm : Infinity;
    if (i === 0) beat = b;
    if (sec - t <= span) return b + ((sec - t) * bpm) / 60;
    t += span;
  }
  return beat;
}
function secondsOf(beat, tempos) {
  let t = 0;
  for (let i = 0; i < tempos.length; i++) {
    const [b, bpm] = tempos[i], next = tempos[i + 1];
    if (!next || beat <= next[0]) return t + ((beat - b) * 60) / bpm;
    t += ((next[0] - b) * 60) / bpm;
  }
  return t;
}

// --- drawing --------------------------------------------------------------------------------------------
function draw() {
  const dpr = window.devicePixelRatio || 1, w = W(), h = H();
  if (!w || !h || !st.doc) return;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  }
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const n = rows() + 1;
  for (let r = 0; r < n; r++) {  // rows, black keys shaded
    const p = st.top - r;
    ctx.fillStyle = [1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12) ? '#eef0f4' : '#fbfbfd';
    ctx.fillRect(KEYW, yOf(p), w - KEYW, st.rowH);
    if (((p % 12) + 12) % 12 === 0) { ctx.fillStyle = '#d5d9e2'; ctx.fillRect(KEYW, yOf(p) + st.rowH - 1, w - KEYW, 1); }
  }
  const g = grid(), bar = beatsPerBar(), b1 = beatAt(w);
  for (let b = Math.max(0, snapDown(st.x0)); b <= b1; b += g) {  // grid lines
    const x = Math.round(xOf(b)) + 0.5, onBar = Math.abs(b / bar - Math.round(b / bar)) < 1e-6;
    const onBeat = Math.abs(b - Math.round(b)) < 1e-6;
    if (!onBar && !onBeat && st.ppb * g < 6) continue;
    ctx.strokeStyle = onBar ? '#9aa3b5' : onBeat ? '#c9cfdb' : '#e4e7ee';
    ctx.beginPath(); ctx.moveTo(x, RULER); ctx.lineTo(x, h); ctx.stroke();
  }
  // the rendered pitch: tints on the notes it matches, the F0 curve on top
  const r = st.rendered, fresh = r && st.renderedKey === notesKey(plainDoc());
  const cents = new Map();
  if (fresh && r.sung) sorted().forEach((note, k) => { const s = r.sung[k]; if (s) cents.set(note.id, s.cents); });
  const bad = overlaps();
  for (const note of st.notes) {
    const x = xOf(note.start), y = yOf(note.pitch), wd = Math.max(3, note.len * st.ppb);
    if (x + wd < KEYW || x > w) continue;
    const c = cents.get(note.id);
    ctx.fillStyle = bad.has(note.id) ? '#ef4444' : c == null ? '#60a5fa' : Math.abs(c) <= 50 ? '#4ade80' : '#fb923c';
    ctx.fillRect(x, y + 1, wd, st.rowH - 2);
    ctx.strokeStyle = st.sel.has(note.id) ? '#1e3a8a' : '#1d4ed8';
    ctx.lineWidth = st.sel.has(note.id) ? 2 : 1;
    ctx.strokeRect(x + 0.5, y + 1.5, wd - 1, st.rowH - 3);
    ctx.lineWidth = 1;
    ctx.fillStyle = '#111';
    ctx.font = '11px ui-sans-serif, system-ui, sans-serif';
    ctx.save(); ctx.beginPath(); ctx.rect(x, y, Math.max(wd, 40), st.rowH); ctx.clip();
    ctx.fillText((note.straight ? '= ' : '') + note.lyric, x + 3, y + st.rowH - 3);
    ctx.restore();
  }
  if (r && st.f0) {
    ctx.strokeStyle = fresh ? '#7c3aed' : 'rgba(124,58,237,0.35)';
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    let pen = false;
    for (const pt of st.f0) {
      if (!pt) { pen = false; continue; }
      const x = xOf(pt[0]), y = yOf(pt[1]) + st.rowH / 2;
      if (x < KEYW - 20 || x > w + 20) { pen = false; continue; }
      if (pen) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      pen = true;
    }
    ctx.stroke(); ctx.lineWidth = 1;
  }
  if (st.drag && st.drag.kind === 'box') {
    const d = st.drag;
    ctx.strokeStyle = '#2563eb'; ctx.setLineDash([4, 3]);
    ctx.strokeRect(Math.min(d.x, d.cx), Math.min(d.y, d.cy), Math.abs(d.cx - d.x), Math.abs(d.cy - d.y));
    ctx.setLineDash([]);
  }
  // ruler with bar numbers, loop span, playhead
  ctx.fillStyle = '#f1f2f6'; ctx.fillRect(KEYW, 0, w - KEYW, RULER);
  ctx.fillStyle = '#333'; ctx.font = '11px ui-sans-serif, system-ui, sans-serif';
  for (let b = Math.max(0, Math.floor(st.x0 / bar) * bar); b <= b1; b += bar) {
    if (xOf(b) >= KEYW) ctx.fillText(String(Math.round(b / bar) + 1), xOf(b) + 3, 15);
  }
  const span = loopSpan();
  if (ui.loop.checked && span) {
    ctx.fillStyle = 'rgba(249,115,22,0.35)';
    ctx.fillRect(xOf(span[0]), 0, (span[1] - span[0]) * st.ppb, RULER);
  }
  if (st.playBeat != null) {
    const x = xOf(st.playBeat);
    if (x >= KEYW) { ctx.strokeStyle = '#dc2626'; ctx.lineWidth = 2; ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, h); ctx.stroke(); ctx.lineWidth = 1; }
  }
  for (let rr = 0; rr < n; rr++) {  // the keyboard on the side
    const p = st.top - rr, black = [1, 3, 6, 8, 10].includes(((p % 12) + 12) % 12);
    ctx.fillStyle = black ? '#333' : '#fff';
    ctx.fillRect(0, yOf(p), KEYW, st.rowH);
    ctx.strokeStyle = '#bbb'; ctx.strokeRect(0.5, yOf(p) + 0.5, KEYW - 1, st.rowH);
    if (!black && (((p % 12) + 12) % 12 === 0 || st.rowH >= 12)) {
      ctx.fillStyle = '#444'; ctx.fillText(pitchName(p), 4, yOf(p) + st.rowH - 3);
    }
  }
  ctx.fillStyle = '#f1f2f6'; ctx.fillRect(0, 0, KEYW, RULER);
  // where things are, for anyone scripting the page (the browser tests aim the mouse with it)
  canvas.dataset.view = JSON.stringify({ x0: st.x0, ppb: st.ppb, top: st.top, rowH: st.rowH, keyw: KEYW, ruler: RULER });
}

// --- status ---------------------------------------------------------------------------------------------
function status() {
  const parts = [`${st.notes.length} notes`];
  if (st.sel.size) parts.push(`${st.sel.size} selected`);
  const bad = overlaps();
  if (bad.size) parts.push('<span class="vs-err">red notes overlap: one voice sings one note at a time</span>');
  if (st.waiting) parts.push('rendering…');
  const r = st.rendered;
  if (r && r.phrases) {
    const sung = (r.sung || []).filter((s) => s.cents != null);
    const ok = sung.filter((s) => Math.abs(s.cents) <= 50).length;
    parts.push(`rendered: ${r.rerendered.length} of ${r.phrases} phrase(s) re-rendered in ${r.render_seconds.toFixed(2)} s; ` +
      `${ok} of ${sung.length} notes sung within 50 cents`);
  }
  if (st.latency != null) parts.push(`heard ${st.latency.toFixed(2)} s after the edit`);
  if (st.restored) parts.push('restored the song you were editing in this browser');
  if (st.error) parts.push(`<span class="vs-err">${st.error.replace(/</g, '&lt;')}</span>`);
  statusEl.innerHTML = parts.join(' · ');
  statusEl.dataset.latency = st.latency == null ? '' : st.latency.toFixed(3);
}

// --- hearing it -----------------------------------------------------------------------------------------
function requestRender(from) {
  st.editAt = performance.now();
  st.editEpoch = Date.now();
  st.playFrom = from;
  st.waiting = true;
  st.error = null;
  trigger('submit');
  status();
}
function loopSpan() {
  const sel = st.notes.filter((n) => st.sel.has(n.id));
  if (!sel.length) return null;
  return [Math.min(...sel.map((n) => n.start)), Math.max(...sel.map((n) => n.start + n.len))];
}
function audioTimeOf(beat) {
  const r = st.rendered;
  return r ? Math.max(0, secondsOf(beat, r.tempos) / r.speed + r.pre_roll) : 0;
}
function beatOfAudio(t) {
  const r = st.rendered;
  return r ? beatsOf((t - r.pre_roll) * r.speed, r.tempos) : 0;
}
function play(fromBeat) {
  if (!st.rendered || !audio.src) return;
  const span = ui.loop.checked ? loopSpan() : null;
  const start = span ? span[0] : fromBeat ?? 0;
  audio.currentTime = Math.min(audioTimeOf(Math.max(0, start - (span ? 0 : 0.5))), audio.duration || 1e9);
  audio.play().catch(() => {});
  ui.play.textContent = '■ Stop';
  requestAnimationFrame(tick);
}
function stop() { audio.pause(); ui.play.textContent = '▶ Play'; }
function tick() {
  if (audio.paused) { st.playBeat = null; draw(); return; }
  const span = ui.loop.checked ? loopSpan() : null;
  if (span && audio.currentTime >= audioTimeOf(span[1])) audio.currentTime = audioTimeOf(span[0]);
  st.playBeat = beatOfAudio(audio.currentTime);
  const x = xOf(st.playBeat);
  if (x > W() - 40 || x < KEYW) st.x0 = Math.max(0, st.playBeat - 1);
  draw();
  requestAnimationFrame(tick);
}
audio.addEventListener('ended', () => { ui.play.textContent = '▶ Play'; st.playBeat = null; draw(); });
function tone(pitch) {
  try {
    actx = actx || new (window.AudioContext || window.webkitAudioContext)();
    const o = actx.createOscillator(), g = actx.createGain();
    o.frequency.value = 440 * Math.pow(2, (pitch - 69) / 12);
    g.gain.setValueAtTime(0.2, actx.currentTime);
    g.gain.exponentialRampToValueAtTime(0.001, actx.currentTime + 0.5);
    o.connect(g); g.connect(actx.destination); o.start(); o.stop(actx.currentTime + 0.5);
  } catch (e) { /* no audio device: the name still shows */ }
  statusEl.textContent = `key ${pitchName(pitch)} (MIDI ${pitch})`;
}
watch('rendered', () => {
  const r = props.rendered;
  st.waiting = false;
  if (!r) { status(); draw(); return; }
  if (r.error) { st.error = r.error; status(); draw(); return; }
  st.rendered = r;
  st.f0 = (r.f0 || '').split(';').map((p) => (p ? p.split(',').map(Number) : null));
  st.renderedKey = notesKey(r.doc || plainDoc());
  Object.assign(statusEl.dataset, {
    url: r.url, sung: JSON.stringify(r.sung), rerendered: JSON.stringify(r.rerendered), phrases: r.phrases,
    synth: r.render_seconds, handler: r.handler_seconds,
    started: st.editEpoch && r.handler_started_ms ? ((r.handler_started_ms - st.editEpoch) / 1000).toFixed(3) : '',
  });
  const from = st.playFrom, t0 = st.editAt;
  st.playFrom = null;
  // the render's answer reached the page this long after the edit; canplay adds the WAV's fetch and decoding
  statusEl.dataset.answered = t0 == null ? '' : ((performance.now() - t0) / 1000).toFixed(3);
  audio.src = r.url;
  audio.load();
  audio.addEventListener('canplay', () => {
    if (t0 != null) { st.latency = (performance.now() - t0) / 1000; st.editAt = null; }
    status();
    if (from != null || r.play) play(from ?? 0);
  }, { once: true });
  status(); draw();
});

// --- lyrics ---------------------------------------------------------------------------------------------
const SMALL = 'ぁぃぅぇぉゃゅょゎァィゥェォャュョヮ';
// a pasted line -> one syllable per note: words split at their hyphens (hel-lo: hel- -lo), kana and hanzi
// one character each (small kana stay with the one before, ー holds it), _ or - alone hold the syllable
function syllables(text) {
  const out = [];
  for (const word of text.trim().split(/[\s\u3000]+/)) {
    if (!word) continue;
    if (word === '_' || word === '-') { out.push('_'); continue; }
    if (/[\u3040-\u30ff\u3400-\u9fff]/.test(word)) {
      for (const ch of word) {
        if (SMALL.includes(ch) && out.length) out[out.length - 1] += ch;
        else out.push(ch === 'ー' ? '_' : ch);
      }
      continue;
    }
    const parts = word.split(/(?<=[^-])-(?=[^-])/);
    parts.forEach((p, i) => out.push((i > 0 ? '-' : '') + p + (i < parts.length - 1 ? '-' : '')));
  }
  return out;
}
function openLyric(note) {
  st.editing = note;
  st.sel = new Set([note.id]);
  const x = Math.max(KEYW, xOf(note.start)), y = yOf(note.pitch);
  if (x > W() - 80) { st.x0 = Math.max(0, note.start - 2); draw(); return openLyric(note); }
  lyricBox.style.left = `${xOf(note.start)}px`;
  lyricBox.style.top = `${y - 3}px`;
  lyricBox.style.width = `${Math.max(60, note.len * st.ppb)}px`;
  lyricBox.value = note.lyric;
  lyricBox.style.display = 'block';
  lyricBox.focus();
  lyricBox.select();
  draw();
}
function closeLyric(keep) {
  const note = st.editing;
  if (!note) return;
  st.editing = null;
  lyricBox.style.display = 'none';
  if (keep && lyricBox.value.trim() !== note.lyric) {
    note.lyric = lyricBox.value.trim() || '_';
    commit(note.start);
  }
  element.querySelector('.vs-studio').focus();
  draw();
}
lyricBox.addEventListener('keydown', (e) => {
  e.stopPropagation();
  if (e.key === 'Escape') { closeLyric(false); return; }
  if (e.key === 'Enter' || e.key === 'Tab') {
    e.preventDefault();
    const note = st.editing, s = sorted(), i = s.indexOf(note);
    closeLyric(true);
    if (e.key === 'Tab') {
      const next = s[i + (e.shiftKey ? -1 : 1)];
      if (next) openLyric(next);
    }
  }
});
lyricBox.addEventListener('paste', (e) => {
  const text = (e.clipboardData || window.clipboardData).getData('text');
  const syl = syllables(text);
  if (syl.length < 2 || !st.editing) return;  // one syllable: an ordinary paste into the box
  e.preventDefault();
  const s = sorted(), i = s.indexOf(st.editing);
  syl.slice(0, s.length - i).forEach((t, k) => { s[i + k].lyric = t; });
  const last = s[Math.min(s.length - 1, i + syl.length - 1)];
  st.editing = null;
  lyricBox.style.display = 'none';
  st.sel = new Set(s.slice(i, i + syl.length).map((n) => n.id));
  commit(s[i].start);
  status();
  if (last) element.querySelector('.vs-studio').focus();
});
lyricBox.addEventListener('blur', () => { if (st.editing) closeLyric(true); });

// --- the mouse ------------------------------------------------------------------------------------------
function pos(e) { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; }
canvas.addEventListener('mousedown', (e) => {
  if (e.button !== 0) return;
  element.querySelector('.vs-studio').focus();
  const [x, y] = pos(e);
  if (x < KEYW) { if (y > RULER) tone(pitchAt(y)); return; }
  if (y < RULER) { if (st.rendered) play(Math.max(0, beatAt(x))); return; }
  const note = noteAt(x, y);
  if (note) {
    if (e.shiftKey) { st.sel.has(note.id) ? st.sel.delete(note.id) : st.sel.add(note.id); draw(); status(); return; }
    if (!st.sel.has(note.id)) st.sel = new Set([note.id]);
    const resize = xOf(note.start + note.len) - x <= EDGE;
    st.drag = {
      kind: resize ? 'resize' : 'move', x, y, beat: beatAt(x), pitch: pitchAt(y), moved: false,
      orig: st.notes.filter((n) => st.sel.has(n.id)).map((n) => [n, n.start, n.len, n.pitch]), note,
    };
  } else if (ui.tool.value === 'select' || e.ctrlKey || e.metaKey) {
    if (!e.shiftKey) st.sel.clear();
    st.drag = { kind: 'box', x, y, cx: x, cy: y };
  } else {
    const start = Math.max(0, snapDown(beatAt(x)));
    const n = { start, len: grid(), pitch: pitchAt(y), lyric: st.doc.lang === 'ja' ? 'ら' : 'la', id: st.nextId++ };
    st.notes.push(n);
    st.sel = new Set([n.id]);
    st.drag = { kind: 'draw', x, note: n, moved: true };
  }
  draw(); status();
});
window.addEventListener('mousemove', (e) => {
  const d = st.drag;
  if (!d) return;
  const [x, y] = pos(e);
  if (d.kind === 'box') { d.cx = x; d.cy = y; draw(); return; }
  if (d.kind === 'draw') { d.note.len = Math.max(grid(), snap(beatAt(x)) - d.note.start); draw(); return; }
  const db = snap(beatAt(x) - d.beat), dp = pitchAt(y) - d.pitch;
  if (Math.abs(x - d.x) > 2 || Math.abs(y - d.y) > 2) d.moved = true;
  if (!d.moved) return;
  for (const [n, s, l, p] of d.orig) {
    if (d.kind === 'move') { n.start = Math.max(0, s + db); n.pitch = Math.min(127, Math.max(0, p + dp)); }
    else n.len = Math.max(grid(), l + db);
  }
  draw();
});
window.addEventListener('mouseup', () => {
  const d = st.drag;
  if (!d) return;
  st.drag = null;
  if (d.kind === 'box') {
    const [b0, b1] = [beatAt(Math.min(d.x, d.cx)), beatAt(Math.max(d.x, d.cx))];
    const [p1, p0] = [pitchAt(Math.min(d.y, d.cy)), pitchAt(Math.max(d.y, d.cy))];
    for (const n of st.notes) if (n.start < b1 && n.start + n.len > b0 && n.pitch >= p0 && n.pitch <= p1) st.sel.add(n.id);
    draw(); status(); return;
  }
  if (d.moved) commit(Math.min(...st.notes.filter((n) => st.sel.has(n.id)).map((n) => n.start)));
  status();
});
canvas.addEventListener('dblclick', (e) => {
  const [x, y] = pos(e);
  const note = noteAt(x, y);
  if (note) { openLyric(note); return; }
  if (x > KEYW && y > RULER && ui.tool.value === 'select') {
    const n = { start: Math.max(0, snapDown(beatAt(x))), len: grid(), pitch: pitchAt(y), lyric: 'la', id: st.nextId++ };
    st.notes.push(n); st.sel = new Set([n.id]); commit(n.start);
  }
});
canvas.addEventListener('wheel', (e) => {
  e.preventDefault();
  if (e.ctrlKey) { zoom(e.deltaY < 0 ? 1.25 : 0.8, pos(e)[0]); return; }
  if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
    st.x0 = Math.max(0, st.x0 + (e.deltaX || e.deltaY) / st.ppb);
  } else {
    st.top = Math.min(127, Math.max(rows() - 1, st.top - Math.sign(e.deltaY) * 3));
  }
  draw();
}, { passive: false });
function zoom(f, atX) {
  const b = beatAt(atX ?? KEYW);
  st.ppb = Math.min(400, Math.max(4, st.ppb * f));
  st.x0 = Math.max(0, b - ((atX ?? KEYW) - KEYW) / st.ppb);
  draw();
}

// --- the keyboard ---------------------------------------------------------------------------------------
element.querySelector('.vs-studio').addEventListener('keydown', (e) => {
  if (e.target.closest('.vs-bar') && e.target.tagName === 'INPUT') return;
  const mod = e.ctrlKey || e.metaKey;
  const sel = st.notes.filter((n) => st.sel.has(n.id));
  if (mod && e.key.toLowerCase() === 'z') { e.preventDefault(); e.shiftKey ? redo() : undo(); return; }
  if (mod && e.key.toLowerCase() === 'y') { e.preventDefault(); redo(); return; }
  if (mod && e.key.toLowerCase() === 'a') { e.preventDefault(); st.sel = new Set(st.notes.map((n) => n.id)); draw(); status(); return; }
  if ((e.key === 'Delete' || e.key === 'Backspace') && sel.length) {
    e.preventDefault(); st.notes = st.notes.filter((n) => !st.sel.has(n.id)); st.sel.clear(); commit(null); status(); return;
  }
  if (e.key === 'Enter' && sel.length) { e.preventDefault(); openLyric(sorted().find((n) => st.sel.has(n.id))); return; }
  if (e.key === ' ') { e.preventDefault(); audio.paused ? play(st.x0) : stop(); return; }
  if (e.key === 'r' && !mod) { e.preventDefault(); requestRender(null); return; }
  if (e.key === 's' && !mod && sel.length) { e.preventDefault(); toggleStraight(sel); return; }
  const arrows = { ArrowUp: [0, e.shiftKey ? 12 : 1], ArrowDown: [0, e.shiftKey ? -12 : -1], ArrowLeft: [-grid(), 0], ArrowRight: [grid(), 0] };
  if (arrows[e.key] && sel.length) {
    e.preventDefault();
    const [db, dp] = arrows[e.key];
    for (const n of sel) { n.start = Math.max(0, n.start + db); n.pitch = Math.min(127, Math.max(0, n.pitch + dp)); }
    commit(Math.min(...sel.map((n) => n.start)));
  }
});

// per-note pitch control: sung exactly on the pitch, no vibrato (all on unless every one already is)
function toggleStraight(notes) {
  if (!notes.length) return;
  const on = !notes.every((n) => n.straight);
  for (const n of notes) { if (on) n.straight = true; else delete n.straight; }
  commit(Math.min(...notes.map((n) => n.start)));
}

// --- the toolbar ----------------------------------------------------------------------------------------
element.querySelector('.vs-bar').addEventListener('click', (e) => {
  const act = e.target.dataset && e.target.dataset.act;
  if (!act) return;
  if (act === 'render') requestRender(0);
  else if (act === 'play') { audio.paused ? play(st.playBeat ?? 0) : stop(); }
  else if (act === 'undo') undo();
  else if (act === 'redo') redo();
  else if (act === 'delete') { st.notes = st.notes.filter((n) => !st.sel.has(n.id)); st.sel.clear(); commit(null); }
  else if (act === 'straight') toggleStraight(st.notes.filter((n) => st.sel.has(n.id)));
  else if (act === 'zoom-in') zoom(1.25);
  else if (act === 'zoom-out') zoom(0.8);
  else if (act === 'new') { st.notes = []; st.sel.clear(); st.rendered = null; commit(null); }
  status();
});
ui.tempo.addEventListener('change', () => {
  const bpm = +ui.tempo.value;
  if (!(bpm >= 10 && bpm <= 400)) { syncBar(); return; }
  st.doc.tempos = [[0, bpm], ...st.doc.tempos.slice(1)];
  commit(0);
});
ui.time.addEventListener('change', () => {
  const m = /^(\d{1,2})\/(1|2|4|8|16|32)$/.exec(ui.time.value.trim());
  if (!m) { syncBar(); return; }
  st.doc.time = [+m[1], +m[2]];
  commit(null);
});
ui.lang.addEventListener('change', () => { st.doc.lang = ui.lang.value || null; commit(0); });
for (const el of [ui.snap, ui.triplet, ui.loop]) el.addEventListener('change', draw);

// --- from the page --------------------------------------------------------------------------------------
// the notation box, the note table or an upload changed the song: show it (an undoable step)
watch('value', () => {
  const doc = props.value;
  if (pageSong !== null && JSON.stringify(doc) === pageSong && performance.now() - loadedAt < 15000) {
    // the page handing out its opening song just after we restored the work in progress: keep ours
    pageSong = null;
    props.value = plainDoc();
    return;
  }
  if (!doc || !doc.notes || JSON.stringify(doc) === st.lastSaved || snapshot() === JSON.stringify(plainDocOf(doc))) return;
  remember();
  load(doc, false);
  st.lastSaved = snapshot();
  try { localStorage.setItem(STORE, st.lastSaved); } catch (e) { /* storage off */ }
  draw(); status();
});
function plainDocOf(doc) {
  const keep = st.doc, notes = st.notes;
  load(doc, true);
  const out = plainDoc();
  st.doc = keep; st.notes = notes;
  return out;
}
new ResizeObserver(() => draw()).observe(stage);

// start: this browser's work in progress if there is one, else the page's song
let saved = null, pageSong = null;
const loadedAt = performance.now();
try { saved = JSON.parse(localStorage.getItem(STORE) || 'null'); } catch (e) { saved = null; }
if (saved && Array.isArray(saved.notes) && saved.notes.length) {
  pageSong = JSON.stringify(props.value);
  load(saved, false);
  st.lastSaved = snapshot();
  props.value = plainDoc();
  trigger('input');
  st.restored = true;
  status();
} else {
  load(props.value || { notes: [] }, false);
  st.lastSaved = snapshot();
  status();
}
draw();
