// The replay view: an evaluation run's accuracy-vs-tokens curves, and per question its
// traces replayed from traces.jsonl through the same RunView as the live view.
'use strict';

(function replay() {
  const $ = (id) => document.getElementById(id);
  const status = $('replay-status');
  let loaded = false;
  let rows = [];        // trace rows of the chosen run
  let current = null;   // the row shown

  function runUrl(run, file) {
    return '/runs/file?' + new URLSearchParams({run, file}).toString();
  }

  async function fetchText(url) {
    const response = await fetch(url, {headers: ponder.headers()});
    if (!response.ok) throw new Error(await ponder.errorText(response));
    return response.text();
  }

  async function loadRuns() {
    loaded = true;
    try {
      const runs = JSON.parse(await fetchText('/runs')).runs;
      const select = $('run');
      select.replaceChildren(...runs.map((r) => ponder.el('option', {value: r.name, text: r.name})));
      if (!runs.length) {
        status.textContent = 'no runs: start the server with --runs DIR (a `ponder eval --out` directory, or a folder of them)';
        return;
      }
      await loadRun(runs[0].name);
    } catch (error) {
      status.textContent = 'cannot list the runs: ' + error.message;
    }
  }

  // Points per strategy from accuracy_vs_tokens.tsv (name, tokens, accuracy %), else summary.json.
  async function curvePoints(run) {
    try {
      const tsv = await fetchText(runUrl(run, 'accuracy_vs_tokens.tsv'));
      const block = tsv.split(/\n\s*\n\s*\n/)[0];
      const points = block.split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((l) => {
        const [name, tokens, accuracy] = l.split('\t');
        return {name, tokens: Number(tokens), accuracy: Number(accuracy) / 100};
      }).filter((p) => Number.isFinite(p.tokens) && Number.isFinite(p.accuracy));
      if (points.length) return {points, axis: 'tokens per question (large-model equivalent)'};
    } catch (_) { /* no plot data: the summary has the same numbers */ }
    const summary = JSON.parse(await fetchText(runUrl(run, 'summary.json')));
    const points = summary.strategies.map((s) => ({name: s.name, accuracy: s.accuracy,
      tokens: (s.generated_tokens || 0) + (s.verifier_tokens || 0)}));
    return {points, axis: 'generated + verifier tokens per question'};
  }

  // One curve per strategy family (vote@4, vote@8 ... -> vote), log2 tokens across.
  function drawCurves(points, axis) {
    const box = $('curves');
    if (!points.length) { box.replaceChildren(); return; }
    const families = new Map();
    for (const p of points) {
      const family = p.name.split('@')[0];
      if (!families.has(family)) families.set(family, []);
      families.get(family).push(p);
    }
    const W = 760, H = 300, L = 56, R = 150, T = 14, B = 42;
    const xs = points.map((p) => Math.log2(Math.max(1, p.tokens)));
    const x0 = Math.floor(Math.min(...xs)), x1 = Math.max(x0 + 1, Math.ceil(Math.max(...xs)));
    const ys = points.map((p) => p.accuracy);
    const y1 = Math.min(1, Math.ceil(Math.max(...ys) * 10) / 10 + 0.02);
    // At least 20 points of accuracy tall, so that close strategies do not fill the plot.
    const y0 = Math.max(0, Math.min(Math.floor(Math.min(...ys) * 10) / 10 - 0.05, y1 - 0.2));
    const X = (t) => L + (W - L - R) * (Math.log2(Math.max(1, t)) - x0) / (x1 - x0);
    const Y = (a) => T + (H - T - B) * (1 - (a - y0) / Math.max(1e-9, y1 - y0));
    const root = ponder.svg('svg', {viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: 'img',
      'aria-label': 'accuracy against tokens per strategy'});
    const grid = ponder.svg('g', {class: 'grid'});
    for (let e = x0; e <= x1; e++) {
      grid.append(ponder.svg('line', {x1: X(2 ** e), x2: X(2 ** e), y1: T, y2: H - B}));
      const t = ponder.svg('text', {x: X(2 ** e), y: H - B + 14, 'text-anchor': 'middle'});
      t.textContent = String(2 ** e);
      grid.append(t);
    }
    for (let a = Math.ceil(y0 * 10) / 10; a <= y1 + 1e-9; a += 0.1) {
      grid.append(ponder.svg('line', {x1: L, x2: W - R, y1: Y(a), y2: Y(a)}));
      const t = ponder.svg('text', {x: L - 6, y: Y(a) + 4, 'text-anchor': 'end'});
      t.textContent = Math.round(a * 100) + '%';
      grid.append(t);
    }
    const xl = ponder.svg('text', {x: (L + W - R) / 2, y: H - 6, 'text-anchor': 'middle', class: 'axis'});
    xl.textContent = axis;
    grid.append(xl);
    root.append(grid);
    let i = 0;
    for (const [family, ps] of families) {
      ps.sort((a, b) => a.tokens - b.tokens);
      const colour = `hsl(${(i * 67) % 360}, 60%, 42%)`;
      const g = ponder.svg('g', {class: 'curve', stroke: colour, fill: colour});
      if (ps.length > 1) {
        g.append(ponder.svg('polyline', {points: ps.map((p) => `${X(p.tokens)},${Y(p.accuracy)}`).join(' '), fill: 'none'}));
      }
      for (const p of ps) {
        const c = ponder.svg('circle', {cx: X(p.tokens), cy: Y(p.accuracy), r: 4});
        const title = ponder.svg('title');
        title.textContent = `${p.name}: ${ponder.percent(p.accuracy)} at ${p.tokens.toFixed(0)} tokens`;
        c.append(title);
        g.append(c);
      }
      const legend = ponder.svg('text', {x: W - R + 12, y: T + 14 + 16 * i, stroke: 'none'});
      legend.textContent = family;
      g.append(legend);
      root.append(g);
      i++;
    }
    box.replaceChildren(root);
  }

  async function loadRun(run) {
    status.textContent = 'loading ' + run + '…';
    try {
      const {points, axis} = await curvePoints(run);
      drawCurves(points, axis);
      const text = await fetchText(runUrl(run, 'traces.jsonl'));
      rows = [];
      for (const line of text.split('\n')) {
        if (!line.trim()) continue;
        try { rows.push(JSON.parse(line)); } catch (_) { /* a row cut off by an interrupted run */ }
      }
      const strategies = [...new Set(rows.map((r) => r.strategy))];
      const select = $('replay-strategy');
      select.replaceChildren(...strategies.map((s) => ponder.el('option', {value: s, text: s})));
      const search = strategies.find((s) => /^(beam|dvts|pf|epf|astar|rollback)@/.test(s));
      if (search) select.value = search;
      listQuestions();
      const tokens = rows.some((r) => r.samples.some((s) => s.token_logprobs && s.token_logprobs[0] && s.token_logprobs[0].piece !== undefined));
      status.textContent = `${rows.length} traces` + (tokens ? '' : ' (run `ponder eval --trace-tokens` for token shading and trees)');
    } catch (error) {
      status.textContent = 'cannot load ' + run + ': ' + error.message;
    }
  }

  function listQuestions() {
    const strategy = $('replay-strategy').value;
    const list = $('question-list');
    const chosen = rows.filter((r) => r.strategy === strategy);
    list.replaceChildren(...chosen.map((row) => {
      const button = ponder.el('button', {type: 'button', class: row.correct ? 'right' : 'wrong',
        text: `${row.correct ? '✓' : '✗'} ${row.id}: ${row.answer ?? '—'}`});
      button.addEventListener('click', () => show(row, false));
      return ponder.el('li', {}, button);
    }));
    if (chosen.length) show(chosen[0], false);
  }

  // A trace row as the events the live view would have seen: samples in launch order,
  // each from its parent's fork point, a line per newline, then its end.
  function rowEvents(row) {
    const samples = [...row.samples].sort((a, b) => a.id - b.id);
    const known = new Set(samples.map((s) => s.id));
    const events = [];
    for (const s of samples) {
      const parent = s.parent >= 0 && known.has(s.parent) ? s.parent : -1;
      const large = s.large_model ? {large_model: true} : {};
      events.push(parent >= 0 ? {event: 'forked', sample: s.id, parent, position: s.fork_position, ...large}
        : {event: 'launched', sample: s.id, ...large});
      const pieces = (s.token_logprobs || []).map((t) => t.piece);
      if (pieces.length && pieces.every((p) => p !== undefined)) {
        let start = parent >= 0 ? s.fork_position : 0;
        let line = [];
        for (let k = start; k < pieces.length; k++) {
          line.push([pieces[k], s.token_logprobs[k].logprob]);
          if (pieces[k].includes('\n') || k + 1 === pieces.length) {
            events.push({event: 'line', sample: s.id, position: start, text: line.map((t) => t[0]).join(''), tokens: line, ...large});
            start = k + 1;
            line = [];
          }
        }
      } else {
        // No tokens recorded: the text, a line at a time, without probabilities.
        let position = 0;
        for (const text of s.text.split(/(?<=\n)/)) {
          if (!text) continue;
          events.push({event: 'line', sample: s.id, position, text, tokens: [[text, 0]], ...large});
          position += 1;
        }
      }
      const scores = s.scores || {};
      if (scores.verifier !== undefined) events.push({event: 'scored', sample: s.id, score: scores.verifier, steps: [], ...large});
      // A trace keeps that the strategy stopped the sample, not its words for why.
      events.push(s.pruned ? {event: 'pruned', sample: s.id, reason: 'stopped by the strategy', ...large}
        : {event: 'finished', sample: s.id, answer: s.answer, finish_reason: s.finish_reason, ...large});
    }
    const counts = new Map();
    for (const s of samples) if (!s.pruned && s.answer !== null) counts.set(s.answer, (counts.get(s.answer) || 0) + 1);
    const tally = [...counts].sort((a, b) => b[1] - a[1]);
    const total = tally.reduce((n, [, c]) => n + c, 0);
    if (tally.length) events.push({event: 'vote', tally, leader: tally[0][0], share: tally[0][1] / total});
    if (row.stop_reason) events.push({event: 'stopped', reason: row.stop_reason});
    return events;
  }

  function decisionOf(row) {
    return {answer: row.answer, confidence: row.confidence, stop_reason: row.stop_reason, samples: row.samples.length,
      pruned: row.samples.filter((s) => s.pruned).length, cost: row.cost, decisions: row.decisions || []};
  }

  let playing = 0;
  function show(row, animate) {
    current = row;
    cancelAnimationFrame(playing);
    $('replay-question').textContent = `${row.id} · ${row.strategy} · reference ${row.reference} · ` +
      (row.correct ? 'right' : 'wrong');
    for (const b of $('question-list').querySelectorAll('button')) {
      b.setAttribute('aria-current', String(b.textContent.includes(` ${row.id}:`)));
    }
    $('replay-play').disabled = false;
    const view = new ponder.RunView($('replay-run'));
    ponder.replay = view;
    const events = rowEvents(row);
    const done = () => view.finish(decisionOf(row), (row.cost && row.cost.wall_ms || 0) / 1000);
    if (!animate) {
      for (const e of events) view.apply(e);
      done();
      return;
    }
    // A few events per frame: slow enough to watch the tree grow.
    let i = 0;
    const step = () => {
      for (let k = 0; k < 3 && i < events.length; k++) view.apply(events[i++]);
      if (i < events.length) playing = requestAnimationFrame(step);
      else done();
    };
    playing = requestAnimationFrame(step);
  }

  $('run').addEventListener('change', () => loadRun($('run').value));
  $('replay-strategy').addEventListener('change', listQuestions);
  $('replay-play').addEventListener('click', () => current && show(current, true));
  window.addEventListener('ponder-replay-shown', () => { if (!loaded) loadRuns(); });
  ponder.loadRuns = loadRuns;
})();
