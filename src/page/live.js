// The live view: ask a question, stream the server's events ("events": "all") into a RunView.
'use strict';

(function live() {
  const $ = (id) => document.getElementById(id);
  const form = $('ask'), status = $('live-status'), stopButton = $('stop'), goButton = $('go');
  let models = [];
  let running = null;  // {controller}

  // Strategy patterns from /v1/models: "vote@N" needs a budget, "adaptive[@MAX]" may have one.
  function strategyChoices(model) {
    const select = $('strategy');
    const previous = select.value;
    select.replaceChildren();
    for (const pattern of model.ponder.strategies) {
      const base = pattern.split(/[@[]/)[0];
      const budget = pattern.includes('[@') ? 'optional' : pattern.includes('@') ? 'required' : 'none';
      const option = ponder.el('option', {value: base, text: pattern});
      option.dataset.budget = budget;
      select.append(option);
    }
    const wanted = previous || 'vote';
    if ([...select.options].some((o) => o.value === wanted)) select.value = wanted;
    budgetRule();
  }

  function budgetRule() {
    const option = $('strategy').selectedOptions[0];
    const rule = option ? option.dataset.budget : 'none';
    const budget = $('budget');
    budget.disabled = rule === 'none';
    budget.required = rule === 'required';
    budget.placeholder = rule === 'optional' ? 'its own' : '';
  }

  async function loadModels() {
    try {
      const response = await fetch('/v1/models', {headers: ponder.headers()});
      if (!response.ok) throw new Error(await ponder.errorText(response));
      models = (await response.json()).data;
      const select = $('model');
      select.replaceChildren(...models.map((m) => ponder.el('option', {value: m.id, text:
        m.id + (m.ponder.verifier ? ` (verifier ${m.ponder.verifier})` : '')})));
      const preferred = models.find((m) => m.id === 'toy-reasoner-l');
      if (preferred) select.value = preferred.id;
      strategyChoices(models.find((m) => m.id === select.value) || models[0]);
      status.textContent = '';
    } catch (error) {
      status.textContent = 'cannot list the models: ' + error.message;
    }
  }

  async function ask(event) {
    event.preventDefault();
    if (running) return;
    const question = $('question').value.trim();
    if (!question) return;
    const strategy = $('strategy').value;
    const budgetInput = $('budget');
    const body = {
      model: $('model').value,
      messages: [{role: 'user', content: question}],
      stream: true,
      ponder: {strategy, events: 'all'},
    };
    if (!budgetInput.disabled && budgetInput.value) body.ponder.budget = Number(budgetInput.value);
    if ($('max-tokens').value) body.max_tokens = Number($('max-tokens').value);
    if ($('seed').value !== '') body.seed = Number($('seed').value);

    const view = new ponder.RunView($('live-run'));
    ponder.live = view;
    const controller = new AbortController();
    running = {controller};
    goButton.disabled = true;
    stopButton.disabled = false;
    status.textContent = 'thinking…';
    ponder.stats.start();
    const started = performance.now();
    let decision = null;
    try {
      const response = await fetch('/v1/chat/completions', {
        method: 'POST', signal: controller.signal,
        headers: ponder.headers({'Content-Type': 'application/json'}), body: JSON.stringify(body),
      });
      if (!response.ok) throw new Error(await ponder.errorText(response));
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = '';
      for (;;) {
        const {value, done} = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const message = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!message.startsWith('data: ')) continue;
          const data = message.slice(6);
          if (data === '[DONE]') continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          const p = chunk.ponder;
          if (p && p.event) view.apply(p);
          const choice = chunk.choices && chunk.choices[0];
          if (choice && choice.finish_reason && p && !p.event) decision = p;
        }
      }
      if (!decision) throw new Error('the stream ended without a decision');
      const seconds = (performance.now() - started) / 1000;
      view.finish(decision, seconds);
      status.textContent = `answered in ${seconds.toFixed(2)} s`;
    } catch (error) {
      const message = error.name === 'AbortError' ? 'stopped' : error.message;
      view.fail(message);
      status.textContent = message;
    } finally {
      ponder.stats.stop();
      running = null;
      goButton.disabled = false;
      stopButton.disabled = true;
    }
  }

  form.addEventListener('submit', ask);
  $('question').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) form.requestSubmit();
  });
  stopButton.addEventListener('click', () => running && running.controller.abort());
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && running) running.controller.abort();
  });
  $('model').addEventListener('change', () => {
    const m = models.find((x) => x.id === $('model').value);
    if (m) strategyChoices(m);
  });
  $('strategy').addEventListener('change', budgetRule);
  $('api-key').addEventListener('change', loadModels);

  // Tabs: click, or arrow keys between them.
  const tabs = [$('tab-live'), $('tab-replay')];
  function select(tab) {
    for (const t of tabs) {
      const on = t === tab;
      t.setAttribute('aria-selected', String(on));
      t.tabIndex = on ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !on;
    }
    tab.focus();
    if (tab.id === 'tab-replay') window.dispatchEvent(new Event('ponder-replay-shown'));
  }
  tabs.forEach((t, i) => {
    t.addEventListener('click', () => select(t));
    t.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') select(tabs[(i + 1) % tabs.length]);
    });
  });
  tabs[1].tabIndex = -1;
  ponder.selectTab = (name) => select(name === 'replay' ? tabs[1] : tabs[0]);

  loadModels();
})();
