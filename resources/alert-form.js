// The alert rule form: a table of rules and a form built from dropdowns, number
// fields with units and duration pickers; no expressions to type. Used by the
// upperstack-alert node's dialog and by the /upperstack/alerts page, so both
// edit the same rule set the same way. Plain browser JS, no library.
(function (root) {
    'use strict';

    var OPS = [
        ['above', 'is above'], ['below', 'is below'], ['outside', 'is outside'], ['inside', 'is between'],
        ['equal', 'equals'], ['not-equal', 'does not equal'], ['changed-by', 'changes by more than'],
        ['not-reported', 'has not reported for'], ['anomalous', 'is anomalous (anomaly node)']
    ];
    var UNITS = [['s', 'seconds'], ['m', 'minutes'], ['h', 'hours'], ['d', 'days']];
    var DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
    var SEVERITIES = ['info', 'warning', 'critical'];
    // Copies of two rules of nodes/lib (a browser cannot load the compiled lib); test/unit/alert-form-rules.test.ts
    // runs them beside the lib's own over the same cases, so they cannot drift apart.
    /** The device id rule of the inputs and the device registry (deviceIdProblem, nodes/lib/devices/record.ts). */
    function isDeviceId(id) { return /^[A-Za-z0-9._:@-]{1,128}$/.test(id); }
    /** As the server compares rule names (ruleNameKey, nodes/lib/rules/validate.ts): accents composed or not, spaces around, case alike. */
    function nameKey(n) { return String(n).normalize('NFC').trim().toLowerCase(); }
    var PLACEHOLDERS = ['device', 'field', 'value', 'unit', 'threshold', 'since', 'duration', 'rule', 'severity', 'reason'];

    function el(tag, attrs, children) {
        var e = document.createElement(tag);
        Object.keys(attrs || {}).forEach(function (k) {
            if (k === 'text') e.textContent = attrs[k];
            else if (k === 'class') e.className = attrs[k];
            else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), attrs[k]);
            else if (attrs[k] !== undefined && attrs[k] !== null && attrs[k] !== false) e.setAttribute(k, attrs[k] === true ? '' : attrs[k]);
        });
        (children || []).forEach(function (c) { if (c) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
        return e;
    }
    function select(cls, options, value) {
        var s = el('select', { class: cls });
        options.forEach(function (o) {
            var opt = el('option', { value: o[0], text: o[1] });
            if (o[0] === value) opt.selected = true;
            s.appendChild(opt);
        });
        return s;
    }
    function num(cls, value, placeholder) {
        return el('input', { type: 'number', step: 'any', class: cls, value: value === undefined ? '' : String(value), placeholder: placeholder || '', inputmode: 'decimal' });
    }
    /** A duration picker: a number and a unit; empty number = none. */
    function duration(cls, text) {
        var m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text || '');
        var n = m ? Number(m[1]) : '';
        var u = m ? m[2] : 'm';
        if (u === 'w') { n = Number(n) * 7; u = 'd'; }
        if (u === 'ms') { n = Number(n) / 1000; u = 's'; }
        var box = el('span', { class: 'usaf-duration ' + cls });
        box.appendChild(el('input', { type: 'number', min: '0', step: 'any', class: cls + '-n', value: String(n), inputmode: 'decimal' }));
        box.appendChild(select(cls + '-u', UNITS, u));
        return box;
    }
    function durationOf(box) {
        if (!box) return undefined;
        var n = box.querySelector('input').value.trim();
        if (n === '') return undefined;
        return Number(n) + box.querySelector('select').value;
    }
    function numberOf(input) {
        var v = input ? input.value.trim() : '';
        return v === '' ? undefined : Number(v);
    }
    function slug(name) {
        var s = String(name || '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48);
        return s || 'rule';
    }
    function isGroup(w) { return w && !('op' in w); }
    function leaves(when) {
        if (!isGroup(when)) return { combine: 'all', list: [when], forText: when.op === 'not-reported' ? undefined : when.for };
        var key = when.any ? 'any' : 'all';
        var list = [];
        (when[key] || []).forEach(function (c) { if ('op' in c) list.push(c); else (c.all || c.any || []).forEach(function (x) { list.push(x); }); });
        return { combine: key, list: list, forText: when.for };
    }
    function opLabel(op) {
        for (var i = 0; i < OPS.length; i++) if (OPS[i][0] === op) return OPS[i][1];
        return op;
    }
    /** Whether a group holds groups: the form shows such a condition but does not edit it (it keeps it). */
    function nested(when) {
        return isGroup(when) && (when.all || when.any || []).some(function (c) { return !('op' in c); });
    }
    function conditionText(c) {
        if (!('op' in c)) return '(' + (c.all || c.any || []).map(conditionText).join(c.any ? ' OR ' : ' AND ') + ')';
        var v = c.op === 'outside' || c.op === 'inside' ? c.low + '–' + c.high : c.op === 'not-reported' ? c['for'] : c.op === 'anomalous' ? 'score ' + (c.score || 0.5) : c.value;
        return (c.field || 'device') + ' ' + opLabel(c.op) + ' ' + (v === undefined ? '' : v) + (c.op === 'changed-by' ? ' within ' + c.within : '');
    }
    function summary(rule) {
        var when = rule.when;
        if (!isGroup(when)) return conditionText(when) + (when.op !== 'not-reported' && when['for'] ? ' for ' + when['for'] : '');
        var key = when.any ? 'any' : 'all';
        return (when[key] || []).map(conditionText).join(key === 'any' ? ' OR ' : ' AND ') + (when['for'] ? ' for ' + when['for'] : '');
    }
    function copy(x) { return x === undefined ? undefined : JSON.parse(JSON.stringify(x)); }

    /**
     * mount(container, {request(method, path, body) → Promise, canWrite, hours}) draws the
     * rule table and form. request answers with the parsed JSON, or rejects with
     * {status, error: {code, message, pointer?}}.
     */
    function mount(container, opts) {
        var state = { rules: [], editing: null, fields: {}, timer: null, seq: 0 };
        container.innerHTML = '';
        container.classList.add('usaf');
        var table = el('table', { class: 'usaf-rules' });
        var actions = el('div', { class: 'usaf-actions' });
        var form = el('div', { class: 'usaf-form', hidden: true });
        var message = el('div', { class: 'usaf-status', 'aria-live': 'polite' });
        container.appendChild(table);
        container.appendChild(actions);
        container.appendChild(message);
        container.appendChild(form);

        function say(text, bad) {
            message.textContent = text || '';
            message.classList.toggle('usaf-bad', !!bad);
        }
        function failText(err) {
            return err && err.error && err.error.message ? err.error.message : err && err.message ? err.message : String(err);
        }

        function load() {
            return opts.request('GET', 'rules').then(function (body) {
                state.rules = body.rules || [];
                drawTable();
            }, function (err) { say(failText(err), true); });
        }

        function drawTable() {
            table.innerHTML = '';
            var head = el('tr', {}, ['Name', 'When', 'Severity', 'On', ''].map(function (h) { return el('th', { text: h }); }));
            table.appendChild(el('thead', {}, [head]));
            var body = el('tbody');
            if (!state.rules.length) body.appendChild(el('tr', {}, [el('td', { colspan: '5', class: 'usaf-empty', text: 'No rules yet.' })]));
            state.rules.forEach(function (r) {
                var tools = el('td', { class: 'usaf-tools' });
                if (opts.canWrite) {
                    tools.appendChild(el('button', { type: 'button', class: 'usaf-edit', 'data-rule': r.id, text: 'Edit', onclick: function () { edit(r); } }));
                    tools.appendChild(el('button', { type: 'button', class: 'usaf-delete', 'data-rule': r.id, text: 'Delete', onclick: function () { remove(r); } }));
                }
                body.appendChild(el('tr', { 'data-rule': r.id }, [
                    el('td', { text: r.name }), el('td', { text: summary(r) }), el('td', { class: 'usaf-sev-' + r.severity, text: r.severity }),
                    el('td', { text: r.enabled === false ? 'off' : 'on' }), tools
                ]));
            });
            table.appendChild(body);
            actions.innerHTML = '';
            if (opts.canWrite) {
                actions.appendChild(el('button', { type: 'button', id: 'usaf-add', class: 'usaf-add', text: '+ Add rule', onclick: function () { edit(null); } }));
                var file = el('input', { type: 'file', accept: 'application/json,.json', class: 'usaf-import-file', hidden: true, onchange: importPack });
                actions.appendChild(el('button', { type: 'button', class: 'usaf-import', text: 'Import pack', onclick: function () { file.click(); } }));
                actions.appendChild(file);
            }
            actions.appendChild(el('button', { type: 'button', class: 'usaf-export', text: 'Export pack', onclick: exportPack }));
        }

        function exportPack() {
            var blob = new Blob([JSON.stringify({ rules: state.rules }, null, 2)], { type: 'application/json' });
            var a = el('a', { href: URL.createObjectURL(blob), download: 'alert-rules.json' });
            document.body.appendChild(a);
            a.click();
            a.remove();
        }
        function importPack(ev) {
            var f = ev.target.files && ev.target.files[0];
            if (!f) return;
            f.text().then(function (text) {
                var pack;
                try { pack = JSON.parse(text); } catch (e) { return say('not a JSON file: ' + e.message, true); }
                return opts.request('POST', 'rules/import?mode=merge', pack).then(function (r) {
                    say('imported: ' + r.created.length + ' new, ' + r.updated.length + ' changed');
                    return load();
                });
            }).catch(function (err) { say(failText(err), true); });
            ev.target.value = '';
        }
        function remove(r) {
            if (!window.confirm('Delete the rule "' + r.name + '"? Its running alerts clear.')) return;
            opts.request('DELETE', 'rules/' + encodeURIComponent(r.id)).then(function () { say('deleted "' + r.name + '"'); return load(); }, function (err) { say(failText(err), true); });
        }

        // ---- the form ---------------------------------------------------
        function row(label, control, cls) {
            return el('div', { class: 'usaf-row ' + (cls || '') }, [el('label', { text: label }), control]);
        }
        /** inGroup: the condition is one of a group's, whose own `for` the form does not show and keeps. */
        function conditionRow(c, list, inGroup) {
            c = c || { op: 'above' };
            var r = el('div', { class: 'usaf-cond' });
            var field = el('input', { type: 'text', class: 'usaf-field', value: c.field || '', placeholder: 'field, e.g. temperature', list: 'usaf-fields' });
            var op = select('usaf-op', OPS, c.op);
            var value = c.op === 'equal' || c.op === 'not-equal' ? el('input', { type: 'text', class: 'usaf-value', value: c.value === undefined ? '' : String(c.value) }) : num('usaf-value', c.value, 'value');
            var low = num('usaf-low', c.low, 'from');
            var high = num('usaf-high', c.high, 'to');
            var within = duration('usaf-within', c.within);
            var silence = duration('usaf-silence', c.op === 'not-reported' ? c['for'] : '');
            var score = num('usaf-score', c.score, '0.5');
            var tag = el('input', { type: 'text', class: 'usaf-valuetag', value: c.valueTag || '', placeholder: 'device tag (optional)', title: 'a device tag whose value replaces this number for devices that have it' });
            var lowTag = el('input', { type: 'text', class: 'usaf-lowtag', value: c.lowTag || '', placeholder: 'device tag for "from" (optional)', title: 'a device tag whose value replaces "from" for devices that have it' });
            var highTag = el('input', { type: 'text', class: 'usaf-hightag', value: c.highTag || '', placeholder: 'device tag for "to" (optional)', title: 'a device tag whose value replaces "to" for devices that have it' });
            var unit = el('span', { class: 'usaf-unit-label' });
            var rm = el('button', { type: 'button', class: 'usaf-remove-cond', text: '×', title: 'remove this condition', onclick: function () { r.remove(); changed(); } });
            [field, op, value, unit, el('span', { class: 'usaf-and', text: 'and' }), low, high, within, silence, score, tag, lowTag, highTag, rm].forEach(function (x) { r.appendChild(x); });
            function show() {
                var o = op.value;
                var isEq = o === 'equal' || o === 'not-equal';
                if (isEq !== (value.type === 'text')) {
                    var repl = isEq ? el('input', { type: 'text', class: 'usaf-value', value: value.value }) : num('usaf-value', value.value === '' || isNaN(Number(value.value)) ? undefined : Number(value.value), 'value');
                    value.replaceWith(repl);
                    value = repl;
                }
                value.hidden = !(o === 'above' || o === 'below' || isEq || o === 'changed-by');
                low.hidden = high.hidden = !(o === 'outside' || o === 'inside');
                r.querySelector('.usaf-and').hidden = low.hidden;
                within.hidden = o !== 'changed-by';
                silence.hidden = o !== 'not-reported';
                score.hidden = o !== 'anomalous';
                tag.hidden = !(o === 'above' || o === 'below' || o === 'changed-by');
                lowTag.hidden = highTag.hidden = low.hidden;
                unit.hidden = value.hidden && low.hidden;
                field.placeholder = o === 'not-reported' || o === 'anomalous' ? 'field (empty = any)' : 'field, e.g. temperature';
            }
            op.addEventListener('change', show);
            show();
            r._read = function () {
                var o = op.value;
                var out = { op: o };
                if (field.value.trim()) out.field = field.value.trim();
                if (o === 'above' || o === 'below' || o === 'changed-by') out.value = numberOf(value);
                if (o === 'equal' || o === 'not-equal') {
                    var t = value.value;
                    out.value = t === 'true' ? true : t === 'false' ? false : t.trim() !== '' && !isNaN(Number(t)) ? Number(t) : t;
                }
                if (o === 'outside' || o === 'inside') { out.low = numberOf(low); out.high = numberOf(high); }
                if (o === 'changed-by') out.within = durationOf(within);
                if (o === 'not-reported') out['for'] = durationOf(silence);
                if (o === 'anomalous' && numberOf(score) !== undefined) out.score = numberOf(score);
                if ((o === 'above' || o === 'below' || o === 'changed-by') && tag.value.trim()) out.valueTag = tag.value.trim();
                if ((o === 'outside' || o === 'inside') && lowTag.value.trim()) out.lowTag = lowTag.value.trim();
                if ((o === 'outside' || o === 'inside') && highTag.value.trim()) out.highTag = highTag.value.trim();
                if (inGroup && c['for'] && o !== 'not-reported') out['for'] = c['for'];
                Object.keys(out).forEach(function (k) { if (out[k] === undefined) delete out[k]; });
                return out;
            };
            r._op = function () { return op.value; };
            r._silence = silence;
            r._inputs = { field: field, op: op, value: function () { return value; }, low: low, high: high, within: within, 'for': silence, score: score, valueTag: tag, lowTag: lowTag, highTag: highTag };
            list.appendChild(r);
            return r;
        }

        function edit(rule) {
            state.editing = rule;
            var r = rule || { name: '', devices: { all: true }, when: { field: '', op: 'above' }, severity: 'warning' };
            var l = leaves(r.when);
            form.innerHTML = '';
            form.hidden = false;
            var f = state.fields = {};
            f.name = el('input', { type: 'text', id: 'usaf-name', class: 'usaf-name', value: r.name, placeholder: 'e.g. Server room too hot' });
            form.appendChild(el('h3', { text: rule ? 'Edit rule' : 'New rule' }));
            form.appendChild(row('Name', f.name));
            var kind = 'list' in r.devices ? 'list' : 'tags' in r.devices ? 'tag' : 'all';
            f.devKind = select('usaf-devices-kind', [['all', 'all devices'], ['list', 'these devices'], ['tag', 'devices with the tag']], kind);
            f.devList = el('input', { type: 'text', class: 'usaf-devices-list', value: r.devices.list ? r.devices.list.join(', ') : '', placeholder: 'device names, separated by commas' });
            var tagEntry = r.devices.tags ? Object.keys(r.devices.tags)[0] : '';
            f.tagName = el('input', { type: 'text', class: 'usaf-tag-name', value: tagEntry || '', placeholder: 'tag, e.g. site' });
            f.tagValue = el('input', { type: 'text', class: 'usaf-tag-value', value: tagEntry ? r.devices.tags[tagEntry] : '', placeholder: 'value, e.g. lab' });
            form.appendChild(row('Devices', el('span', {}, [f.devKind, f.devList, f.tagName, f.tagValue])));
            f.combine = select('usaf-combine', [['all', 'all of these hold (AND)'], ['any', 'any of these holds (OR)']], l.combine);
            f.conds = el('div', { class: 'usaf-conds' });
            form.appendChild(row('When', el('span', {}, [f.combine])));
            form.appendChild(f.conds);
            f.nested = nested(r.when);
            if (f.nested) {
                // Saving a flattened copy would turn "(a OR b) AND c" into "a AND b AND c": shown, kept, not edited.
                var bare = copy(r.when);
                delete bare['for'];
                f.keptWhen = el('div', { class: 'usaf-kept usaf-kept-when', text: summary({ when: bare }) + ' (groups inside groups: kept as they are; change them with Export pack and Import pack)' });
                form.appendChild(row('When', f.keptWhen));
            } else {
                l.list.forEach(function (c) { conditionRow(c, f.conds, isGroup(r.when)); });
                form.appendChild(el('button', { type: 'button', class: 'usaf-add-cond', text: '+ condition', onclick: function () { conditionRow(null, f.conds); changed(); } }));
            }
            f.forD = duration('usaf-for', l.forText);
            f.forRow = row('For at least', f.forD, 'usaf-for-row');
            form.appendChild(f.forRow);
            f.unit = el('input', { type: 'text', class: 'usaf-unit', value: r.unit || '', placeholder: 'e.g. °C', size: '6' });
            form.appendChild(row('Unit', f.unit));
            f.severity = select('usaf-severity', SEVERITIES.map(function (s) { return [s, s]; }), r.severity);
            form.appendChild(row('Then raise', f.severity));
            f.message = el('input', { type: 'text', class: 'usaf-message', value: r.message || '', placeholder: '{device}: {field} is {value} {unit} (since {since})' });
            var chips = el('span', { class: 'usaf-chips' });
            PLACEHOLDERS.forEach(function (p) {
                chips.appendChild(el('button', { type: 'button', class: 'usaf-chip', text: '{' + p + '}', onclick: function () { f.message.value += '{' + p + '}'; changed(); } }));
            });
            form.appendChild(row('Message', el('span', {}, [f.message, chips])));
            var nt = r.notify;
            f.notifyKind = select('usaf-notify-kind', [['all', 'on every channel of the alert node'], ['some', 'only on']], nt ? 'some' : 'all');
            f.notifyEmail = el('input', { type: 'checkbox', class: 'usaf-notify-email' });
            f.notifyEmail.checked = !nt || nt.email !== false;
            f.notifyTo = el('input', { type: 'text', class: 'usaf-notify-to', value: nt && Array.isArray(nt.email) ? nt.email.join(', ') : '', placeholder: "to (empty = the node's recipients)" });
            f.notifyWebhook = el('input', { type: 'checkbox', class: 'usaf-notify-webhook' });
            f.notifyWebhook.checked = !nt || nt.webhook !== false;
            f.notifyMqtt = el('input', { type: 'checkbox', class: 'usaf-notify-mqtt' });
            f.notifyMqtt.checked = !nt || nt.mqtt !== false;
            f.notifyChannels = el('span', { class: 'usaf-notify-channels' }, [
                el('label', {}, [f.notifyEmail, ' e-mail ']), f.notifyTo, el('label', {}, [f.notifyWebhook, ' webhook ']), el('label', {}, [f.notifyMqtt, ' MQTT'])
            ]);
            form.appendChild(row('Notify', el('span', {}, [f.notifyKind, f.notifyChannels])));
            var clearKind = r.clear && r.clear.op ? r.clear.op : 'auto';
            var clearOptions = [['auto', 'when the condition no longer holds'], ['below', 'when the value goes below'], ['above', 'when the value goes above']];
            var c0 = r.clear || {};
            if ((c0.op && c0.op !== 'below' && c0.op !== 'above') || c0.field || c0.low !== undefined || c0.high !== undefined || c0.valueTag || c0.lowTag || c0.highTag) {
                // A recovery condition the dropdown cannot show is offered as it is, so saving keeps it.
                var keptClear = copy(c0);
                delete keptClear['for'];
                clearKind = 'kept';
                clearOptions.push(['kept', 'when ' + conditionText(keptClear) + ' (as set)']);
            }
            f.clearKind = select('usaf-clear-kind', clearOptions, clearKind);
            f.clearValue = num('usaf-clear-value', r.clear && r.clear.value, 'recovery value');
            f.clearFor = duration('usaf-clear-for', r.clear && r.clear['for']);
            form.appendChild(row('Clear', el('span', {}, [f.clearKind, f.clearValue, el('span', { text: ' back to normal for ' }), f.clearFor])));
            f.keep = duration('usaf-keep', r.keepFiringFor);
            form.appendChild(row('Keep firing for', f.keep));
            var esc = r.escalate || {};
            f.escSeverity = select('usaf-esc-severity', [['', 'no escalation'], ['warning', 'escalate to warning'], ['critical', 'escalate to critical']], esc.severity || '');
            f.escAfter = duration('usaf-esc-after', esc.after);
            f.escValue = num('usaf-esc-value', esc.value, 'or past this value');
            form.appendChild(row('Escalate', el('span', {}, [f.escSeverity, el('span', { text: ' after unacknowledged ' }), f.escAfter, f.escValue])));
            f.remind = duration('usaf-remind', r.remindEvery);
            form.appendChild(row('Remind every', f.remind));
            f.flapChanges = num('usaf-flap-changes', r.flap && r.flap.changes, 'changes');
            f.flapWithin = duration('usaf-flap-within', r.flap && r.flap.within);
            form.appendChild(row('Flapping if more than', el('span', {}, [f.flapChanges, el('span', { text: ' changes within ' }), f.flapWithin])));
            var zones = (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : ['UTC']).slice();
            if (zones.indexOf('UTC') === -1) zones.unshift('UTC');
            // A valid zone the browser does not list (an alias such as Europe/Kiev) stays the rule's zone.
            if (r.timezone && zones.indexOf(r.timezone) === -1) zones.unshift(r.timezone);
            f.tz = select('usaf-tz', zones.map(function (z) { return [z, z]; }), r.timezone || 'UTC');
            form.appendChild(row('Time zone', f.tz));
            function windowRow(cls, w) {
                var box = el('span', { class: cls });
                DAYS.forEach(function (d) {
                    var cb = el('input', { type: 'checkbox', class: cls + '-day', value: d });
                    cb.checked = !!w && w.days.indexOf(d) !== -1;
                    box.appendChild(el('label', { class: 'usaf-day' }, [cb, d]));
                });
                box.appendChild(el('input', { type: 'time', class: cls + '-from', value: w ? w.from : '08:00' }));
                box.appendChild(el('input', { type: 'time', class: cls + '-to', value: w ? (w.to === '24:00' ? '23:59' : w.to) : '18:00' }));
                return box;
            }
            // The form edits a rule's first window; the others are listed and kept.
            function moreWindows(cls, list) {
                var more = (list || []).slice(1);
                return more.length ? el('div', { class: cls + '-more', text: 'and ' + more.map(function (w) { return w.days.join(', ') + ' ' + w.from + '–' + w.to; }).join('; ') + ' (kept as they are)' }) : null;
            }
            f.sched = windowRow('usaf-sched', r.schedule && r.schedule[0]);
            f.schedMore = (r.schedule || []).slice(1);
            form.appendChild(row('Active only on (none = always)', el('span', {}, [f.sched, moreWindows('usaf-sched', r.schedule)])));
            f.mute = windowRow('usaf-mute', r.mute && r.mute[0]);
            f.muteMore = (r.mute || []).slice(1);
            form.appendChild(row('No notifications on (mute)', el('span', {}, [f.mute, moreWindows('usaf-mute', r.mute)])));
            f.enabled = el('input', { type: 'checkbox', class: 'usaf-enabled' });
            f.enabled.checked = r.enabled !== false;
            form.appendChild(row('Enabled', f.enabled));
            f.error = el('div', { class: 'usaf-error', 'aria-live': 'polite' });
            f.preview = el('div', { class: 'usaf-preview', 'aria-live': 'polite' });
            form.appendChild(f.error);
            form.appendChild(f.preview);
            form.appendChild(el('div', { class: 'usaf-buttons' }, [
                el('button', { type: 'button', id: 'usaf-save', class: 'usaf-save', text: 'Save rule', onclick: save }),
                el('button', { type: 'button', class: 'usaf-cancel', text: 'Cancel', onclick: function () { form.hidden = true; state.editing = null; } })
            ]));
            form.addEventListener('input', changed);
            form.addEventListener('change', changed);
            function show() {
                var k = f.devKind.value;
                f.devList.hidden = k !== 'list';
                f.tagName.hidden = f.tagValue.hidden = k !== 'tag';
                f.clearValue.hidden = f.clearKind.value === 'auto' || f.clearKind.value === 'kept';
                f.combine.parentNode.parentNode.hidden = f.nested || f.conds.children.length < 2;
                f.notifyChannels.hidden = f.notifyKind.value !== 'some';
                f.notifyTo.hidden = !f.notifyEmail.checked;
                // "has not reported for" has its own duration: a "For at least" typed before choosing it moves
                // there; shown only while it still holds something the rule would not use.
                var deadman = deadmanRow();
                if (deadman && durationOf(f.forD) && !durationOf(deadman._silence)) {
                    deadman._silence.querySelector('input').value = f.forD.querySelector('input').value;
                    deadman._silence.querySelector('select').value = f.forD.querySelector('select').value;
                    f.forD.querySelector('input').value = '';
                }
                f.forRow.hidden = !!deadman && !durationOf(f.forD);
                var unitText = f.unit.value;
                form.querySelectorAll('.usaf-unit-label').forEach(function (u) { u.textContent = unitText; });
            }
            f.show = show;
            show();
            changed();
            f.name.focus();
        }

        /** The only condition, when it is "has not reported for" (whose duration is its own, not "For at least"). */
        function deadmanRow() {
            var f = state.fields;
            var only = !f.nested && f.conds.children.length === 1 ? f.conds.children[0] : null;
            return only && only._op() === 'not-reported' ? only : null;
        }

        /** The rule the form describes, and where each value came from (for errors). */
        function readForm() {
            var f = state.fields;
            var at = {};
            var conds = Array.prototype.slice.call(f.conds.children).map(function (r, i) { return r; });
            var orig = state.editing || {};
            var rule = { id: state.editing ? state.editing.id : slug(f.name.value), name: f.name.value.trim() };
            if (orig.description !== undefined) rule.description = orig.description;
            at['/name'] = f.name;
            at['/id'] = f.name;
            var k = f.devKind.value;
            if (k === 'list') rule.devices = { list: f.devList.value.split(',').map(function (s) { return s.trim(); }).filter(Boolean) };
            else if (k === 'tag') { rule.devices = { tags: {} }; rule.devices.tags[f.tagName.value.trim()] = f.tagValue.value.trim(); }
            else rule.devices = { all: true };
            at['/devices'] = k === 'list' ? f.devList : k === 'tag' ? f.tagName : f.devKind;
            var forText = durationOf(f.forD);
            if (f.nested) {
                rule.when = copy(orig.when);
                delete rule.when['for'];
                if (forText) rule.when['for'] = forText;
                at['/when'] = f.keptWhen;
                at['/when/for'] = f.forD;
            } else if (conds.length === 1) {
                rule.when = conds[0]._read();
                if (forText && rule.when.op !== 'not-reported') rule.when['for'] = forText;
                at['/when'] = conds[0];
                Object.keys(conds[0]._inputs).forEach(function (key) { at['/when/' + key] = conds[0]._inputs[key]; });
                at['/when/for'] = rule.when.op === 'not-reported' ? conds[0]._inputs['for'] : f.forD;
            } else {
                rule.when = {};
                rule.when[f.combine.value] = conds.map(function (c) { return c._read(); });
                if (forText) rule.when['for'] = forText;
                at['/when/for'] = f.forD;
                conds.forEach(function (c, i) {
                    at['/when/' + f.combine.value + '/' + i] = c;
                    Object.keys(c._inputs).forEach(function (key) { at['/when/' + f.combine.value + '/' + i + '/' + key] = c._inputs[key]; });
                });
            }
            if (f.unit.value.trim()) rule.unit = f.unit.value.trim();
            rule.severity = f.severity.value;
            if (f.message.value.trim()) rule.message = f.message.value;
            at['/message'] = f.message;
            if (f.notifyKind.value === 'some') {
                var to = f.notifyTo.value.split(',').map(function (x) { return x.trim(); }).filter(Boolean);
                rule.notify = { email: f.notifyEmail.checked ? (to.length ? to : true) : false, webhook: f.notifyWebhook.checked, mqtt: f.notifyMqtt.checked };
            }
            at['/notify'] = f.notifyKind;
            at['/notify/email'] = f.notifyTo;
            var clearFor = durationOf(f.clearFor);
            if (f.clearKind.value === 'kept') {
                rule.clear = copy(orig.clear);
                delete rule.clear['for'];
                if (clearFor) rule.clear['for'] = clearFor;
            } else if (f.clearKind.value !== 'auto' || clearFor) {
                rule.clear = {};
                if (f.clearKind.value !== 'auto') { rule.clear.op = f.clearKind.value; rule.clear.value = numberOf(f.clearValue); }
                if (clearFor) rule.clear['for'] = clearFor;
                Object.keys(rule.clear).forEach(function (x) { if (rule.clear[x] === undefined) delete rule.clear[x]; });
            }
            at['/clear'] = f.clearKind;
            at['/clear/value'] = f.clearValue;
            at['/clear/for'] = f.clearFor;
            if (durationOf(f.keep)) rule.keepFiringFor = durationOf(f.keep);
            at['/keepFiringFor'] = f.keep;
            if (f.escSeverity.value) {
                var was = orig.escalate || {};
                rule.escalate = { severity: f.escSeverity.value };
                if (durationOf(f.escAfter)) rule.escalate.after = durationOf(f.escAfter);
                var first = conds[0] && conds[0]._read();
                if (numberOf(f.escValue) !== undefined) {
                    rule.escalate.op = was.op || (first && first.op === 'below' ? 'below' : 'above');
                    rule.escalate.value = numberOf(f.escValue);
                    if (was.field) rule.escalate.field = was.field;
                }
            }
            at['/escalate'] = f.escSeverity;
            at['/escalate/after'] = f.escAfter;
            at['/escalate/value'] = f.escValue;
            if (durationOf(f.remind)) rule.remindEvery = durationOf(f.remind);
            at['/remindEvery'] = f.remind;
            if (numberOf(f.flapChanges) !== undefined || durationOf(f.flapWithin)) rule.flap = { changes: numberOf(f.flapChanges), within: durationOf(f.flapWithin) };
            at['/flap'] = f.flapChanges;
            at['/flap/within'] = f.flapWithin;
            if (f.tz.value !== 'UTC') rule.timezone = f.tz.value;
            ['sched', 'mute'].forEach(function (w) {
                var box = f[w];
                var days = Array.prototype.slice.call(box.querySelectorAll('.usaf-' + w + '-day')).filter(function (c) { return c.checked; }).map(function (c) { return c.value; });
                var list = copy(f[w + 'More']);
                if (days.length) {
                    var win = { days: days, from: box.querySelector('.usaf-' + w + '-from').value, to: box.querySelector('.usaf-' + w + '-to').value };
                    if (win.to === '23:59') win.to = '24:00';
                    list.unshift(win);
                }
                if (!list.length) return;
                rule[w === 'sched' ? 'schedule' : 'mute'] = list;
                at['/' + (w === 'sched' ? 'schedule' : 'mute')] = box;
            });
            if (state.editing && state.editing.silences) rule.silences = state.editing.silences;
            if (!f.enabled.checked) rule.enabled = false;
            return { rule: rule, at: at };
        }

        function elementFor(at, pointer) {
            var p = pointer;
            while (p) {
                var e = at[p];
                if (e) return typeof e === 'function' ? e() : e;
                p = p.slice(0, p.lastIndexOf('/'));
            }
            return null;
        }
        /** A text of the locale catalog (opts.t), or null where it has none. */
        function words(key, subs) {
            var t = opts.t ? opts.t('form.' + key, subs) : null;
            return typeof t === 'string' && t !== '' ? t : null;
        }
        /** The condition a pointer under /when is about, and its number in a group (1-based, 0 = the only one). */
        function conditionAt(rule, parts) {
            var w = rule && rule.when;
            if (!w || parts[0] !== 'when') return { cond: null, n: 0 };
            if ('op' in w) return { cond: w, n: 0 };
            var list = w[parts[1]];
            var i = Number(parts[2]);
            return { cond: list && list[i] && 'op' in list[i] ? list[i] : null, n: Number.isInteger(i) ? i + 1 : 0 };
        }
        // Schema checks say what kind of value is wanted: the field's hint says it in words. Other checks
        // (a band upside down, a name in use) have their own sentence, kept after the field's label.
        var HINTED = { required: 1, type: 1, pattern: 1, minimum: 1, maximum: 1, exclusiveMinimum: 1, exclusiveMaximum: 1, minLength: 1, maxLength: 1, minItems: 1, multipleOf: 1 };
        /**
         * The API's error ("/when/value is required") as a person reads it next to the field: "Value: enter a
         * number". The pointer names the field; the locale names its label and what it wants.
         */
        function errorWords(e, rule, target) {
            var pointer = e.pointer === undefined ? '' : String(e.pointer).replace(/^\/rule/, '');
            var raw = String(e.message || '');
            var detail = pointer && raw.indexOf(pointer) === 0 ? raw.slice(pointer.length).replace(/^[\s:]+/, '') : raw;
            var parts = pointer.split('/').filter(Boolean);
            var at = conditionAt(rule, parts);
            var key = parts.filter(function (x) { return !/^\d+$/.test(x) && x !== 'all' && x !== 'any'; }).join('-');
            if (at.cond && key === 'when-for' && at.cond.op === 'not-reported') key = 'when-silence';
            if (at.cond && key === 'when-value' && (at.cond.op === 'equal' || at.cond.op === 'not-equal')) key = 'when-text';
            var rowLabel = target && target.closest('.usaf-row') ? target.closest('.usaf-row').querySelector('label') : null;
            var label = (key && (words('labels.' + key) || words('labels.' + parts[0]))) || (rowLabel ? rowLabel.textContent : null);
            if (!label) return raw;
            var hint = e.keyword && HINTED[e.keyword] ? words('hints.' + key) : null;
            var band = /^must be below high \((\S+) is not below (\S+)\)$/.exec(detail);
            if (band) hint = words('lowAboveHigh', { low: band[1], high: band[2] });
            var text = label + ': ' + (hint || detail);
            if (at.n && rule.when && !('op' in rule.when)) text = (words('condition', { n: at.n }) || 'condition ' + at.n) + ', ' + text;
            return text;
        }
        function markError(at, err, rule) {
            var f = state.fields;
            form.querySelectorAll('.usaf-invalid').forEach(function (x) { x.classList.remove('usaf-invalid'); });
            form.querySelectorAll('.usaf-field-error').forEach(function (x) { x.remove(); });
            if (!err) { f.error.textContent = ''; return; }
            var e = err.error || err;
            var target = e.element || (e.pointer !== undefined ? elementFor(at, String(e.pointer).replace(/^\/rule/, '')) : null);
            var text = errorWords(e, rule, target);
            f.error.textContent = text;
            if (target) {
                target.classList.add('usaf-invalid');
                target.insertAdjacentElement('afterend', el('div', { class: 'usaf-field-error', role: 'alert', text: text }));
            }
        }

        function changed() {
            if (!state.fields.name) return;
            state.fields.show();
            clearTimeout(state.timer);
            state.timer = setTimeout(runPreview, 600);
        }
        function when(ts) {
            var d = new Date(ts);
            return d.toLocaleString(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
        }
        /**
         * What the form itself can tell before asking the server: a number field the browser cannot read (its
         * value is then empty, and the server would only say "required"), a missing name, a name in use.
         */
        function formProblem(read) {
            var bad = Array.prototype.filter.call(form.querySelectorAll('input'), function (i) { return i.validity && i.validity.badInput && !i.closest('[hidden]'); })[0];
            if (bad) return { element: bad, message: words('notNumber') || 'not a number this field can hold (too large, or not a number at all)' };
            var deadman = deadmanRow();
            if (deadman && durationOf(state.fields.forD)) return { element: state.fields.forD, message: words('forNotUsed') || 'not used by "has not reported for", whose own box says how long: empty this one' };
            var list = read.rule.devices && read.rule.devices.list;
            // A listed id outside the device id rule could never match a device.
            var badId = list ? list.filter(function (id) { return !isDeviceId(id); })[0] : undefined;
            if (badId !== undefined) return { pointer: '/devices/list/' + list.indexOf(badId), message: words('deviceId', { id: badId }) || '"' + badId + '" is not a device id: use 1 to 128 letters, digits, ".", "_", "-", ":" or "@", separate ids with commas' };
            if (!read.rule.name) return { pointer: '/name', message: words('noName') || 'give the rule a name' };
            var key = nameKey;
            var name = key(read.rule.name);
            var self = state.editing ? state.editing.id : null;
            var other = state.rules.filter(function (r) { return r.id !== self && key(r.name) === name; })[0];
            if (other) return { pointer: '/name', message: words('nameTaken', { name: other.name }) || 'a rule named "' + other.name + '" exists already: give this one another name' };
            return null;
        }
        function showProblem(read, p) {
            markError(read.at, p, read.rule);
        }
        function runPreview() {
            var read = readForm();
            var f = state.fields;
            var seq = ++state.seq;
            var problem = formProblem(read);
            if (problem) { showProblem(read, problem); f.preview.textContent = ''; return; }
            f.preview.textContent = 'checking against the last ' + (opts.hours || 24) + ' h of stored data…';
            opts.request('POST', 'preview', { rule: read.rule, hours: opts.hours || 24, store: opts.store ? opts.store() : undefined }).then(function (p) {
                if (seq !== state.seq) return;
                markError(read.at, null);
                var text = 'Over the last ' + (opts.hours || 24) + ' h of stored data this rule would have fired ' + p.fired + (p.fired === 1 ? ' time' : ' times');
                if (p.fired) text += ', at ' + p.firings.slice(0, 5).map(function (x) { return when(x.ts) + ' (' + x.device + ')'; }).join(', ') + (p.fired > 5 ? ', …' : '');
                text += ' (' + p.scanned + ' readings of ' + p.devices.length + ' device' + (p.devices.length === 1 ? '' : 's') + ').';
                f.preview.textContent = text;
                (p.notes || []).forEach(function (n) { f.preview.appendChild(el('div', { class: 'usaf-note', text: n })); });
            }, function (err) {
                if (seq !== state.seq) return;
                var e = err && err.error;
                if (e && e.code === 'RULE_INVALID') { markError(read.at, e, read.rule); f.preview.textContent = ''; }
                else { markError(read.at, null); f.preview.textContent = 'no preview: ' + failText(err); }
            });
        }

        function save() {
            var read = readForm();
            var editing = state.editing;
            var path = editing ? 'rules/' + encodeURIComponent(editing.id) : 'rules';
            if (!editing && state.rules.some(function (r) { return r.id === read.rule.id; })) read.rule.id = read.rule.id + '-' + Date.now().toString(36).slice(-4);
            var problem = formProblem(read);
            if (problem) { showProblem(read, problem); return; }
            opts.request(editing ? 'PUT' : 'POST', path, read.rule).then(function (saved) {
                form.hidden = true;
                state.editing = null;
                say('saved "' + saved.name + '"; it applies now');
                if (opts.onSaved) opts.onSaved(saved);
                return load();
            }, function (err) { markError(read.at, err && err.error ? err.error : err, read.rule); });
        }

        var datalist = el('datalist', { id: 'usaf-fields' });
        ['temperature', 'humidity', 'pressure', 'power', 'voltage', 'battery'].forEach(function (x) { datalist.appendChild(el('option', { value: x })); });
        container.appendChild(datalist);
        load();
        return { reload: load, edit: edit };
    }

    root.UpperstackAlertForm = { mount: mount, summary: summary, nameKey: nameKey, isDeviceId: isDeviceId };
})(window);
