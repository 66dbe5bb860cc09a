// One question's thinking, drawn from ponder's events: lanes of samples (tokens shaded by
// probability), the vote tally, the search tree and the final answer with its cost. The
// live view feeds it the server's stream, the replay view events rebuilt from a trace
// row; both go through apply(), and the DOM changes once per animation frame.
'use strict';

const ponder = window.ponder = {};

// Measurements the browser test reads: DOM updates (frames that changed the page), the
// time between animation frames while a run is drawn, and the page's own work per update.
ponder.stats = {
  domUpdates: 0, frames: [], work: [], events: 0, measuring: false, lastFrame: 0,
  start() {
    this.domUpdates = 0; this.frames = []; this.work = []; this.events = 0; this.lastFrame = 0;
    if (!this.measuring) requestAnimationFrame(watchFrames);
    this.measuring = true;
  },
  stop() { this.measuring = false; },
};
// Runs only while measuring, so an idle page does no work per frame.
function watchFrames(now) {
  const s = ponder.stats;
  if (!s.measuring) return;
  if (s.lastFrame) s.frames.push(now - s.lastFrame);
  s.lastFrame = now;
  requestAnimationFrame(watchFrames);
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}
ponder.el = el;

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}
ponder.svg = svg;

function percent(x) { return (100 * x).toFixed(x >= 0.995 || x < 0.1 ? 0 : 1) + '%'; }
ponder.percent = percent;

// A low-probability token stands out: shade = 1 - p.
function tokenShade(logprob) {
  const p = Math.exp(Math.min(0, logprob));
  const a = Math.max(0, Math.min(1, 1 - p));
  return a < 0.03 ? '' : `rgba(230, 110, 20, ${(0.85 * a).toFixed(2)})`;
}
// Verifier scores from red (0) to green (1).
function scoreColour(score) {
  if (score === undefined || score === null || Number.isNaN(score)) return '#9aa3ad';
  return `hsl(${Math.round(120 * Math.max(0, Math.min(1, score)))}, 65%, 42%)`;
}

class RunView {
  constructor(container) {
    const root = document.getElementById('run-template').content.firstElementChild.cloneNode(true);
    container.replaceChildren(root);
    this.root = root;
    this.lanesBox = root.querySelector('.lanes');
    this.laneCount = root.querySelector('.lane-count');
    this.bars = root.querySelector('.bars');
    this.criterion = root.querySelector('.criterion');
    this.treeBox = root.querySelector('.tree');
    this.answerBox = root.querySelector('.answer');
    this.costBox = root.querySelector('.cost');
    this.decisionsBox = root.querySelector('.decisions');
    this.samples = new Map();   // id -> {tokens, shown, state, answer, reason, path, lane...}
    this.nodes = [];            // tree nodes: {id, parent, sample, text, start, end, score, state}
    this.vote = null;
    this.decisions = [];
    this.queue = [];
    this.dirty = new Set();     // 'lanes:<id>', 'tally', 'tree', 'final'
    this.frame = 0;
  }

  // Takes one event (the server's `ponder` field shape); drawn at the next frame.
  apply(event) {
    this.queue.push(event);
    ponder.stats.events++;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
  }

  // The final decision: {answer, confidence, stop_reason, samples, pruned, votes, cost, decisions}.
  finish(decision, seconds) {
    this.final = decision;
    this.seconds = seconds;
    this.dirty.add('final');
    if (!decision.votes || !decision.votes.length) return this.schedule();
    if (!this.vote) this.vote = {tally: decision.votes, leader: decision.votes[0][0]};
    this.dirty.add('tally');
    this.schedule();
  }

  fail(message) {
    this.error = message;
    this.dirty.add('final');
    this.schedule();
  }

  schedule() { if (!this.frame) this.frame = requestAnimationFrame(() => this.flush()); }

  sample(id) {
    let s = this.samples.get(id);
    if (!s) {
      s = {id, tokens: [], shown: 0, state: 'running', answer: null, reason: '', path: [], parent: -1,
           inherited: 0, score: null, large: false};
      this.samples.set(id, s);
      this.dirty.add('lanes:' + id);
    }
    return s;
  }

  // Cuts a sample back to its first `position` tokens (and its tree path with it).
  cut(s, position) {
    if (s.tokens.length > position) { s.tokens.length = position; s.shown = Infinity; }
    while (s.path.length && this.nodes[s.path[s.path.length - 1]].end > position) {
      const node = this.nodes[s.path.pop()];
      if (node.state === 'live') node.state = 'dropped';
    }
  }

  handle(e) {
    const id = e.large_model ? 10000 + (e.sample ?? 0) : e.sample;
    switch (e.event) {
      case 'launched': { const s = this.sample(id); s.large = !!e.large_model; break; }
      case 'forked': case 'resampled': {
        const parent = this.sample(e.large_model ? 10000 + e.parent : e.parent);
        const s = this.sample(id);
        s.parent = parent.id;
        s.tokens = parent.tokens.slice(0, e.position);
        s.inherited = e.position;
        s.shown = Infinity;
        this.searching = true;
        s.path = parent.path.filter((n) => this.nodes[n].end <= e.position);
        this.dirty.add('tree');
        break;
      }
      case 'truncated': {
        const s = this.sample(id);
        this.cut(s, e.position);
        this.searching = true;
        this.dirty.add('tree');
        break;
      }
      case 'extended': {
        const s = this.sample(id);
        s.tokens.push([e.text, 0, true]);
        break;
      }
      case 'tokens': {
        // The unfinished line's newest tokens: shown now, taken into its line when it ends.
        const s = this.sample(id);
        this.cut(s, e.position);
        for (const [piece, logprob] of e.tokens) s.tokens.push([piece, logprob]);
        break;
      }
      case 'line': {
        const s = this.sample(id);
        // Its first tokens may be on show already (`tokens` events): keep those spans.
        const shown = s.tokens.length - e.position;
        const same = shown > 0 && shown <= e.tokens.length &&
          e.tokens.slice(0, shown).every((t, i) => s.tokens[e.position + i] && s.tokens[e.position + i][0] === t[0]);
        if (same) {
          for (const t of e.tokens.slice(shown)) s.tokens.push([t[0], t[1]]);
        } else {
          this.cut(s, e.position);
          if (s.tokens.length < e.position) s.tokens.length = e.position;  // not expected: lines come in order
          for (const [piece, logprob] of e.tokens) s.tokens.push([piece, logprob]);
        }
        const parent = s.path.length ? s.path[s.path.length - 1] : -1;
        const node = {id: this.nodes.length, parent, sample: s.id, text: e.text, start: e.position,
                      end: e.position + e.tokens.length, score: null, state: 'live'};
        this.nodes.push(node);
        s.path.push(node.id);
        this.dirty.add('tree');
        break;
      }
      case 'finished': {
        const s = this.sample(id);
        s.state = 'finished';
        s.answer = e.answer;
        s.reason = e.finish_reason;
        this.markLast(s, 'finished', e.answer);
        break;
      }
      case 'pruned': {
        const s = this.sample(id);
        s.state = 'pruned';
        s.reason = e.reason;
        this.markLast(s, 'pruned', e.reason);
        break;
      }
      case 'scored': {
        // A search's sample carries its steps' scores; a vote's solutions are numbered.
        const s = this.sample(e.sample !== undefined ? id : e.solution);
        if (e.sample !== undefined) this.searching = true;
        this.dirty.add('lanes:' + s.id);
        s.score = e.score;
        (e.steps || []).forEach((score, i) => { if (i < s.path.length) this.nodes[s.path[i]].score = score; });
        // A solution's score alone (a replayed trace keeps no step scores) belongs to its last step.
        if (!(e.steps || []).length && s.path.length) this.nodes[s.path[s.path.length - 1]].score = e.score;
        this.dirty.add('tree');
        break;
      }
      case 'vote': this.vote = e; this.dirty.add('tally'); return;
      case 'stopped': this.stopped = e.reason; this.dirty.add('tally'); return;
      case 'decided': this.decisions.push(e.decision); this.dirty.add('final'); return;
      default: return;
    }
    if (id !== undefined) this.dirty.add('lanes:' + id);
  }

  markLast(s, state, label) {
    if (!s.path.length) return;
    const node = this.nodes[s.path[s.path.length - 1]];
    node.state = state;
    node.label = label;
    this.dirty.add('tree');
  }

  flush() {
    const began = performance.now();
    this.frame = 0;
    const events = this.queue;
    this.queue = [];
    for (const e of events) this.handle(e);
    if (!this.dirty.size) return;
    const grown = [];
    for (const what of this.dirty) {
      if (what.startsWith('lanes:')) this.drawLane(this.samples.get(Number(what.slice(6))), grown);
    }
    if (this.dirty.has('tally')) this.drawTally();
    // Only a search has a tree worth drawing; a vote's samples are the lanes.
    if (this.dirty.has('tree') && this.searching) {
      this.root.classList.add('searching');
      this.drawTree();
    }
    if (this.dirty.has('final')) this.drawFinal();
    this.dirty.clear();
    // Scrolled after every change is made: reading scrollHeight lays the page out once,
    // not once per lane.
    for (const box of grown) box.scrollTop = box.scrollHeight;
    ponder.stats.domUpdates++;
    if (ponder.stats.measuring) ponder.stats.work.push(performance.now() - began);
  }

  drawLane(s, grown) {
    if (!s) return;
    if (!s.lane) {
      s.tokensBox = el('div', {class: 'tokens'});
      s.head = el('div', {class: 'lane-head'});
      s.lane = el('article', {class: 'lane', tabindex: '0'}, s.head, s.tokensBox);
      // Lanes in sample order, whatever order their first events came in.
      const after = [...this.lanesBox.children].find((l) => Number(l.dataset.sample) > s.id);
      s.lane.dataset.sample = s.id;
      this.lanesBox.insertBefore(s.lane, after || null);
      this.laneCount.textContent = `(${this.samples.size})`;
    }
    if (s.lane.dataset.state !== s.state) s.lane.dataset.state = s.state;
    const who = (s.large ? 'L' : '#') + (s.id % 10000) + (s.parent >= 0 ? ` ← #${s.parent % 10000}` : '');
    const status = s.state === 'finished' ? (s.answer === null || s.answer === undefined ? 'no answer' : s.answer)
      : s.state === 'pruned' ? 'pruned: ' + s.reason : '…';
    const score = s.score === null ? '' : ` · score ${s.score.toFixed(2)}`;
    // Most updates only add tokens: the header is rebuilt only when it says something new.
    const label = `sample ${who}: ${status}${score}`;
    if (label !== s.label) {
      s.label = label;
      s.head.replaceChildren(el('span', {class: 'who', text: who}),
        el('span', {class: 'lane-answer', text: status + score}));
      s.lane.setAttribute('aria-label', label);
    }
    if (s.shown > s.tokens.length) {
      s.tokensBox.replaceChildren();
      s.shown = 0;
    }
    if (s.shown < s.tokens.length) {
      const more = document.createDocumentFragment();
      for (let i = s.shown; i < s.tokens.length; i++) {
        const t = s.tokens[i];
        if (!t) continue;
        const span = el('span', {text: t[0]});
        if (i < s.inherited) span.className = 'inherited';
        else if (t[2]) span.className = 'given';
        else {
          const shade = tokenShade(t[1]);
          if (shade) span.style.background = shade;
          span.title = 'p = ' + Math.exp(t[1]).toFixed(3);
        }
        more.append(span);
      }
      s.tokensBox.append(more);
      s.shown = s.tokens.length;
      grown.push(s.tokensBox);
    }
  }

  drawTally() {
    const v = this.vote;
    if (!v || !v.tally) return;
    const total = v.tally.reduce((sum, [, w]) => sum + w, 0) || 1;
    const rows = v.tally.slice(0, 8).map(([answer, weight], i) => el('div', {class: 'bar-row' + (i ? '' : ' leader')},
      el('span', {class: 'bar-label', text: answer}),
      el('span', {class: 'bar'}, el('span', {class: 'fill', style: `width:${(100 * weight / total).toFixed(1)}%`})),
      el('span', {class: 'bar-value', text: Number.isInteger(weight) ? String(weight) : weight.toFixed(2)})));
    this.bars.replaceChildren(...rows);
    const parts = [];
    if (v.share !== undefined) parts.push(`leader ${v.leader} with ${percent(v.share)}`);
    if (v.criterion !== undefined) {
      parts.push(v.threshold !== undefined
        ? `criterion ${v.criterion.toFixed(3)} ${v.criterion >= v.threshold ? '≥' : '<'} threshold ${v.threshold}`
        : `criterion ${v.criterion.toFixed(3)}`);
    }
    if (this.stopped) parts.push('stopped: ' + this.stopped);
    this.criterion.replaceChildren(el('span', {text: parts.join(' · ')}));
    if (v.threshold !== undefined && v.criterion !== undefined) {
      const gauge = el('span', {class: 'gauge', title: 'criterion against its threshold'},
        el('span', {class: 'fill', style: `width:${(100 * Math.min(1, v.criterion)).toFixed(1)}%`}),
        el('span', {class: 'mark', style: `left:${(100 * Math.min(1, v.threshold)).toFixed(1)}%`}));
      this.criterion.append(gauge);
    }
  }

  // Steps left to right by depth; leaves one row each, a parent at its children's middle.
  drawTree() {
    const nodes = this.nodes;
    if (!nodes.length) return;
    const children = nodes.map(() => []);
    const roots = [];
    for (const n of nodes) (n.parent >= 0 ? children[n.parent] : roots).push(n.id);
    const depth = new Array(nodes.length).fill(0);
    const row = new Array(nodes.length).fill(0);
    let rows = 0, maxDepth = 0;
    const place = (id, d) => {
      depth[id] = d;
      maxDepth = Math.max(maxDepth, d);
      if (!children[id].length) { row[id] = rows++; return; }
      for (const c of children[id]) place(c, d + 1);
      const kids = children[id];
      row[id] = (row[kids[0]] + row[kids[kids.length - 1]]) / 2;
    };
    for (const r of roots) place(r, 0);
    const dx = 72, dy = 16, left = 28, top = 12;
    const width = left + dx * (maxDepth + 1) + 90, height = top + dy * rows + 8;
    const root = svg('svg', {width, height, viewBox: `0 0 ${width} ${height}`, role: 'img',
      'aria-label': `search tree: ${nodes.length} steps`});
    const x = (id) => left + dx * depth[id], y = (id) => top + dy * row[id];
    const edges = svg('g', {class: 'edges'});
    edges.append(svg('circle', {cx: 10, cy: top + dy * (rows - 1) / 2, r: 5, class: 'prompt'}));
    for (const n of nodes) {
      const px = n.parent >= 0 ? x(n.parent) : 10;
      const py = n.parent >= 0 ? y(n.parent) : top + dy * (rows - 1) / 2;
      edges.append(svg('path', {d: `M${px},${py} C${px + dx / 2},${py} ${x(n.id) - dx / 2},${y(n.id)} ${x(n.id)},${y(n.id)}`,
        class: 'edge ' + n.state}));
    }
    root.append(edges);
    for (const n of nodes) {
      const g = svg('g', {class: 'node ' + n.state, transform: `translate(${x(n.id)},${y(n.id)})`});
      g.append(svg('circle', {r: 6, fill: scoreColour(n.score)}));
      const title = svg('title');
      title.textContent = `#${n.sample % 10000} step ${depth[n.id] + 1}: ${n.text.trim()}` +
        (n.score !== null ? `\nscore ${n.score.toFixed(3)}` : '') + (n.label ? `\n${n.state}: ${n.label}` : '');
      g.append(title);
      // Beside the node, not above it: rows are closer than a line of text.
      if (n.score !== null) {
        const t = svg('text', {x: 9, y: 3.5, class: 'score'});
        t.textContent = n.score.toFixed(2);
        g.append(t);
      }
      if (n.state === 'finished' || n.state === 'pruned') {
        const t = svg('text', {x: n.score !== null ? 34 : 9, y: 3.5, class: 'label'});
        t.textContent = n.state === 'finished' ? (n.label ?? '—') : '✕';
        g.append(t);
      }
      root.append(g);
    }
    this.treeBox.replaceChildren(root);
  }

  drawFinal() {
    if (this.error) {
      this.answerBox.textContent = 'error: ' + this.error;
      this.answerBox.className = 'answer error';
    } else if (this.final) {
      const d = this.final;
      this.answerBox.textContent = d.answer === null || d.answer === undefined ? 'no answer' : d.answer;
      this.answerBox.className = 'answer done';
      const c = d.cost || {};
      const items = [
        ['confidence', d.confidence !== undefined ? percent(d.confidence) : '—'],
        ['tokens', `${c.generated_tokens ?? 0} generated` + (c.verifier_tokens ? `, ${c.verifier_tokens} verifier` : '')],
        ['samples', `${d.samples ?? this.samples.size}` + (d.pruned ? ` (${d.pruned} stopped early)` : '')],
        ['forward passes', String(c.forward_passes ?? '—')],
        ['time', this.seconds !== undefined ? `${this.seconds.toFixed(2)} s` : `${((c.wall_ms ?? 0) / 1000).toFixed(2)} s`],
        ['stopped', d.stop_reason || '—'],
      ];
      this.costBox.replaceChildren(...items.flatMap(([k, v]) => [el('dt', {text: k}), el('dd', {text: v})]));
    }
    const decisions = (this.final && this.final.decisions && this.final.decisions.length) ? this.final.decisions : this.decisions;
    this.decisionsBox.replaceChildren(...decisions.map((d) => el('li', {text: d})));
  }
}
ponder.RunView = RunView;

ponder.headers = function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = document.getElementById('api-key').value.trim();
  if (key) h.Authorization = 'Bearer ' + key;
  return h;
};

// An error body's message, or the status.
ponder.errorText = async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch (_) { /* not JSON */ }
  return `HTTP ${response.status}`;
};
