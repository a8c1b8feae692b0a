// The alert rule form: a table of rules and a form built from dropdowns, number
// fields with units and duration pickers; no expressions to type. Used by the
// upperstack-alert node's dialog and by the /upperstack/alerts page, so both
// edit the same rule set the same way. Plain browser JS, no library; its parts
// (alert-form-kit.js, -condition.js, -read.js, -errors.js) are loaded before it by alert-form-load.js.
(function (root) {
    'use strict';
    // alert-form-load.js runs the form's files in order; the kit's functions are taken only when a form is drawn,
    // so the files also work run in another order (as script tags of the editor would run them).
    var K = root.UpperstackAlertFormKit = root.UpperstackAlertFormKit || {};


    /**
     * mount(container, {request(method, path, body, headers) → Promise, canWrite, hours}) draws the
     * rule table and form. request answers with the parsed JSON, or rejects with
     * {status, error: {code, message, pointer?}}.
     */
    function mount(container, opts) {
        // This mount's own words: another form mounted later (or before) keeps its own.
        var w = K.wordsOf(opts.t);
        var ui = w.ui, duration = w.duration, summary = w.summary, conditionText = w.conditionText;
        var el = K.el, select = K.select, num = K.num, durationOf = K.durationOf;
        var leaves = K.leaves, nested = K.nested, isGroup = K.isGroup, copy = K.copy;
        var DAYS = K.DAYS, SEVERITIES = K.SEVERITIES, PLACEHOLDERS = K.PLACEHOLDERS;
        var state = { rules: [], revisions: {}, revision: undefined, editing: null, fields: {}, timer: null, seq: 0 };
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
                state.revisions = body.revisions || {};
                drawTable();
            }, function (err) { say(failText(err), true); });
        }

        function drawTable() {
            table.innerHTML = '';
            var head = el('tr', {}, ['name', 'when', 'severity', 'on'].map(function (h) { return el('th', { text: ui('column.' + h) }); }).concat([el('th')]));
            table.appendChild(el('thead', {}, [head]));
            var body = el('tbody');
            if (!state.rules.length) body.appendChild(el('tr', {}, [el('td', { colspan: '5', class: 'usaf-empty', text: ui('noRules') })]));
            state.rules.forEach(function (r) {
                var tools = el('td', { class: 'usaf-tools' });
                if (opts.canWrite) {
                    tools.appendChild(el('button', { type: 'button', class: 'usaf-edit', 'data-rule': r.id, text: ui('edit'), onclick: function () { edit(r); } }));
                    tools.appendChild(el('button', { type: 'button', class: 'usaf-delete', 'data-rule': r.id, text: ui('delete'), onclick: function () { remove(r); } }));
                }
                body.appendChild(el('tr', { 'data-rule': r.id }, [
                    el('td', { text: r.name }), el('td', { text: summary(r) }), el('td', { class: 'usaf-sev-' + r.severity, text: r.severity }),
                    el('td', { text: ui(r.enabled === false ? 'off' : 'on') }), tools
                ]));
            });
            table.appendChild(body);
            actions.innerHTML = '';
            if (opts.canWrite) {
                actions.appendChild(el('button', { type: 'button', id: 'usaf-add', class: 'usaf-add', text: ui('add'), onclick: function () { edit(null); } }));
                var file = el('input', { type: 'file', accept: 'application/json,.json', class: 'usaf-import-file', hidden: true, onchange: importPack });
                actions.appendChild(el('button', { type: 'button', class: 'usaf-import', text: ui('import'), onclick: function () { file.click(); } }));
                actions.appendChild(file);
            }
            actions.appendChild(el('button', { type: 'button', class: 'usaf-export', text: ui('export'), onclick: exportPack }));
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
                try { pack = JSON.parse(text); } catch (e) { return say(ui('notJson', { message: e.message }), true); }
                return opts.request('POST', 'rules/import?mode=merge', pack).then(function (r) {
                    say(ui('imported', { created: r.created.length, updated: r.updated.length }));
                    return load();
                });
            }).catch(function (err) { say(failText(err), true); });
            ev.target.value = '';
        }
        function remove(r) {
            if (!window.confirm(ui('confirmDelete', { name: r.name }))) return;
            opts.request('DELETE', 'rules/' + encodeURIComponent(r.id)).then(function () { say(ui('deleted', { name: r.name })); return load(); }, function (err) { say(failText(err), true); });
        }

        // ---- the form ---------------------------------------------------
        function row(label, control, cls) {
            return el('div', { class: 'usaf-row ' + (cls || '') }, [el('label', { text: label }), control]);
        }

        function edit(rule) {
            state.editing = rule;
            // The version this edit starts from: a save is refused if someone changed the rule since.
            state.revision = rule ? state.revisions[rule.id] : undefined;
            var r = rule || { name: '', devices: { all: true }, when: { field: '', op: 'above' }, severity: 'warning' };
            var l = leaves(r.when);
            form.innerHTML = '';
            form.hidden = false;
            var f = state.fields = {};
            // Errors show on what the person has typed into or changed, and on everything once Save is pressed;
            // a new rule's empty form is not met with them. A stored rule's values were given: its errors show.
            f.touched = [];
            f.submitted = !!rule;
            f.name = el('input', { type: 'text', id: 'usaf-name', class: 'usaf-name', value: r.name, placeholder: ui('placeholder.name') });
            form.appendChild(el('h3', { text: ui(rule ? 'editRule' : 'newRule') }));
            form.appendChild(row(ui('row.name'), f.name));
            var kind = 'list' in r.devices ? 'list' : 'tags' in r.devices ? 'tag' : 'all';
            f.devKind = select('usaf-devices-kind', ['all', 'list', 'tag'].map(function (x) { return [x, ui('devices.' + x)]; }), kind);
            f.devList = el('input', { type: 'text', class: 'usaf-devices-list', value: r.devices.list ? r.devices.list.join(', ') : '', placeholder: ui('placeholder.devices') });
            var tagEntry = r.devices.tags ? Object.keys(r.devices.tags)[0] : '';
            f.tagName = el('input', { type: 'text', class: 'usaf-tag-name', value: tagEntry || '', placeholder: ui('placeholder.tagName') });
            f.tagValue = el('input', { type: 'text', class: 'usaf-tag-value', value: tagEntry ? r.devices.tags[tagEntry] : '', placeholder: ui('placeholder.tagValue') });
            form.appendChild(row(ui('row.devices'), el('span', {}, [f.devKind, f.devList, f.tagName, f.tagValue])));
            f.combine = select('usaf-combine', ['all', 'any'].map(function (x) { return [x, ui('combine.' + x)]; }), l.combine);
            f.conds = el('div', { class: 'usaf-conds' });
            form.appendChild(row(ui('row.when'), el('span', {}, [f.combine])));
            form.appendChild(f.conds);
            f.nested = nested(r.when);
            if (f.nested) {
                // Saving a flattened copy would turn "(a OR b) AND c" into "a AND b AND c": shown, kept, not edited.
                var bare = copy(r.when);
                delete bare['for'];
                f.keptWhen = el('div', { class: 'usaf-kept usaf-kept-when', text: ui('keptGroups', { when: summary({ when: bare }) }) });
                form.appendChild(row(ui('row.when'), f.keptWhen));
            } else {
                l.list.forEach(function (c) { K.conditionRow(c, f.conds, isGroup(r.when), changed, w); });
                form.appendChild(el('button', { type: 'button', class: 'usaf-add-cond', text: ui('addCondition'), onclick: function () { K.conditionRow(null, f.conds, false, changed, w); changed(); } }));
            }
            f.forD = duration('usaf-for', l.forText);
            f.forRow = row(ui('row.for'), f.forD, 'usaf-for-row');
            form.appendChild(f.forRow);
            f.unit = el('input', { type: 'text', class: 'usaf-unit', value: r.unit || '', placeholder: ui('placeholder.unit'), size: '6' });
            form.appendChild(row(ui('row.unit'), f.unit));
            f.severity = select('usaf-severity', SEVERITIES.map(function (s) { return [s, ui('severity.' + s)]; }), r.severity);
            form.appendChild(row(ui('row.severity'), f.severity));
            f.message = el('input', { type: 'text', class: 'usaf-message', value: r.message || '', placeholder: ui('placeholder.message') });
            var chips = el('span', { class: 'usaf-chips' });
            PLACEHOLDERS.forEach(function (p) {
                chips.appendChild(el('button', { type: 'button', class: 'usaf-chip', text: '{' + p + '}', onclick: function () { f.message.value += '{' + p + '}'; touch({ target: f.message }); changed(); } }));
            });
            form.appendChild(row(ui('row.message'), el('span', {}, [f.message, chips])));
            var nt = r.notify;
            f.notifyKind = select('usaf-notify-kind', ['all', 'some'].map(function (x) { return [x, ui('notify.' + x)]; }), nt ? 'some' : 'all');
            f.notifyEmail = el('input', { type: 'checkbox', class: 'usaf-notify-email' });
            f.notifyEmail.checked = !nt || nt.email !== false;
            f.notifyTo = el('input', { type: 'text', class: 'usaf-notify-to', value: nt && Array.isArray(nt.email) ? nt.email.join(', ') : '', placeholder: ui('placeholder.notifyTo') });
            f.notifyWebhook = el('input', { type: 'checkbox', class: 'usaf-notify-webhook' });
            f.notifyWebhook.checked = !nt || nt.webhook !== false;
            f.notifyMqtt = el('input', { type: 'checkbox', class: 'usaf-notify-mqtt' });
            f.notifyMqtt.checked = !nt || nt.mqtt !== false;
            f.notifyChannels = el('span', { class: 'usaf-notify-channels' }, [
                el('label', {}, [f.notifyEmail, ' ' + ui('channel.email') + ' ']), f.notifyTo, el('label', {}, [f.notifyWebhook, ' ' + ui('channel.webhook') + ' ']), el('label', {}, [f.notifyMqtt, ' ' + ui('channel.mqtt')])
            ]);
            form.appendChild(row(ui('row.notify'), el('span', {}, [f.notifyKind, f.notifyChannels])));
            var clearKind = r.clear && r.clear.op ? r.clear.op : 'auto';
            var clearOptions = ['auto', 'below', 'above'].map(function (x) { return [x, ui('clear.' + x)]; });
            var c0 = r.clear || {};
            // Under a group the field is the picker's; under one condition it is that condition's, so one named
            // there (through the API) is kept as it is, as is a field with no threshold to pick it for.
            var fieldKept = c0.field && (!isGroup(r.when) || !c0.op);
            if ((c0.op && c0.op !== 'below' && c0.op !== 'above') || fieldKept || c0.low !== undefined || c0.high !== undefined || c0.valueTag || c0.lowTag || c0.highTag) {
                // A recovery condition the dropdown cannot show is offered as it is, so saving keeps it.
                var keptClear = copy(c0);
                delete keptClear['for'];
                clearKind = 'kept';
                clearOptions.push(['kept', ui('clear.kept', { condition: conditionText(keptClear) })]);
            }
            f.clearKind = select('usaf-clear-kind', clearOptions, clearKind);
            f.clearValue = num('usaf-clear-value', r.clear && r.clear.value, ui('placeholder.clearValue'));
            f.clearField = fieldPicker('usaf-clear-field', clearKind === 'kept' ? undefined : c0.field, ui('title.clearField'));
            f.clearFor = duration('usaf-clear-for', r.clear && r.clear['for']);
            form.appendChild(row(ui('row.clear'), el('span', {}, [f.clearKind, f.clearValue, f.clearField.parentNode, el('span', { text: ' ' + ui('clearFor') + ' ' }), f.clearFor])));
            f.keep = duration('usaf-keep', r.keepFiringFor);
            form.appendChild(row(ui('row.keep'), f.keep));
            var esc = r.escalate || {};
            f.escSeverity = select('usaf-esc-severity', [['', ui('escalate.none')], ['warning', ui('escalate.warning')], ['critical', ui('escalate.critical')]], esc.severity || '');
            f.escAfter = duration('usaf-esc-after', esc.after);
            f.escValue = num('usaf-esc-value', esc.value, ui('placeholder.escValue'));
            f.escField = fieldPicker('usaf-esc-field', esc.field, ui('title.escField'));
            f.escAfterText = el('span', { text: ' ' + ui('escalateAfter') + ' ' });
            form.appendChild(row(ui('row.escalate'), el('span', {}, [f.escSeverity, f.escAfterText, f.escAfter, f.escValue, f.escField.parentNode])));
            f.remind = duration('usaf-remind', r.remindEvery);
            form.appendChild(row(ui('row.remind'), f.remind));
            f.flapChanges = num('usaf-flap-changes', r.flap && r.flap.changes, ui('placeholder.flapChanges'));
            f.flapWithin = duration('usaf-flap-within', r.flap && r.flap.within);
            form.appendChild(row(ui('row.flap'), el('span', {}, [f.flapChanges, el('span', { text: ' ' + ui('flapWithin') + ' ' }), f.flapWithin])));
            var zones = (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : ['UTC']).slice();
            if (zones.indexOf('UTC') === -1) zones.unshift('UTC');
            // A valid zone the browser does not list (an alias such as Europe/Kiev) stays the rule's zone.
            if (r.timezone && zones.indexOf(r.timezone) === -1) zones.unshift(r.timezone);
            f.tz = select('usaf-tz', zones.map(function (z) { return [z, z]; }), r.timezone || 'UTC');
            form.appendChild(row(ui('row.timezone'), f.tz));
            function windowRow(cls, w) {
                var box = el('span', { class: cls });
                DAYS.forEach(function (d) {
                    var cb = el('input', { type: 'checkbox', class: cls + '-day', value: d });
                    cb.checked = !!w && w.days.indexOf(d) !== -1;
                    box.appendChild(el('label', { class: 'usaf-day' }, [cb, ui('day.' + d)]));
                });
                box.appendChild(el('input', { type: 'time', class: cls + '-from', value: w ? w.from : '08:00' }));
                box.appendChild(el('input', { type: 'time', class: cls + '-to', value: w ? (w.to === '24:00' ? '23:59' : w.to) : '18:00' }));
                return box;
            }
            // The form edits a rule's first window; the others are listed and kept.
            function moreWindows(cls, list) {
                var more = (list || []).slice(1);
                return more.length ? el('div', { class: cls + '-more', text: ui('moreWindows', { windows: more.map(function (w) { return w.days.map(function (d) { return ui('day.' + d); }).join(', ') + ' ' + w.from + '–' + w.to; }).join('; ') }) }) : null;
            }
            f.sched = windowRow('usaf-sched', r.schedule && r.schedule[0]);
            f.schedMore = (r.schedule || []).slice(1);
            form.appendChild(row(ui('row.schedule'), el('span', {}, [f.sched, moreWindows('usaf-sched', r.schedule)])));
            f.mute = windowRow('usaf-mute', r.mute && r.mute[0]);
            f.muteMore = (r.mute || []).slice(1);
            form.appendChild(row(ui('row.mute'), el('span', {}, [f.mute, moreWindows('usaf-mute', r.mute)])));
            f.enabled = el('input', { type: 'checkbox', class: 'usaf-enabled' });
            f.enabled.checked = r.enabled !== false;
            form.appendChild(row(ui('row.enabled'), f.enabled));
            f.error = el('div', { class: 'usaf-error', 'aria-live': 'polite' });
            // Apart from the errors, which every change redraws: the offer stays until it is taken or the form closes.
            f.gone = el('div', { class: 'usaf-gone', 'aria-live': 'polite' });
            f.preview = el('div', { class: 'usaf-preview', 'aria-live': 'polite' });
            form.appendChild(f.error);
            form.appendChild(f.gone);
            form.appendChild(f.preview);
            form.appendChild(el('div', { class: 'usaf-buttons' }, [
                el('button', { type: 'button', id: 'usaf-save', class: 'usaf-save', text: ui('save'), onclick: save }),
                el('button', { type: 'button', class: 'usaf-cancel', text: ui('cancel'), onclick: function () { form.hidden = true; state.editing = null; } })
            ]));
            form.addEventListener('input', touch);
            form.addEventListener('change', touch);
            form.addEventListener('input', changed);
            form.addEventListener('change', changed);
            function show() {
                var k = f.devKind.value;
                f.devList.hidden = k !== 'list';
                f.tagName.hidden = f.tagValue.hidden = k !== 'tag';
                f.clearValue.hidden = f.clearKind.value === 'auto' || f.clearKind.value === 'kept';
                // One condition has nothing to combine, but keeps its "When" label; a kept nested group has its own row.
                f.combine.parentNode.parentNode.hidden = f.nested;
                f.combine.hidden = f.conds.children.length < 2;
                f.notifyChannels.hidden = f.notifyKind.value !== 'some';
                f.notifyTo.hidden = !f.notifyEmail.checked;
                // A group watches several fields: its recovery and escalation thresholds say which one they watch.
                var grouped = f.nested || f.conds.children.length > 1;
                var fields = K.fieldsOf(f.nested ? l.list : Array.prototype.map.call(f.conds.children, function (c) { return c._read(); }));
                offerFields(f.clearField, fields);
                offerFields(f.escField, fields);
                f.clearField.parentNode.hidden = !grouped || (f.clearKind.value !== 'below' && f.clearKind.value !== 'above');
                // "has not reported for" and "is anomalous" clear by themselves and escalate after a time only: no
                // recovery or escalation value is offered (one already given stays shown, for the error to be read).
                var only = !f.nested && f.conds.children.length === 1 ? f.conds.children[0]._op() : null;
                var selfClearing = only === 'not-reported' || only === 'anomalous';
                Array.prototype.forEach.call(f.clearKind.options, function (o) {
                    o.hidden = selfClearing && (o.value === 'below' || o.value === 'above') && f.clearKind.value !== o.value;
                });
                // "no escalation" has no time nor value to ask for.
                var escalating = !!f.escSeverity.value;
                f.escAfterText.hidden = f.escAfter.hidden = !escalating;
                f.escValue.hidden = !escalating || (selfClearing && f.escValue.value === '');
                f.escField.parentNode.hidden = !grouped || !escalating || f.escValue.value.trim() === '';
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

        /**
         * A dropdown of the fields a group watches, in a box that says "of" before it (the box is what is shown
         * or hidden); stored: the field the rule has (offered even when no condition names it any longer).
         */
        function fieldPicker(cls, stored, title) {
            var picker = el('select', { class: cls, title: title });
            picker._stored = stored || '';
            picker._chosen = stored || '';
            // A select says "input" before "change", and the form redraws the offer on either.
            picker.addEventListener('input', function () { picker._chosen = picker.value; });
            picker.addEventListener('change', function () { picker._chosen = picker.value; });
            el('span', { class: cls + '-box' }, [' ' + ui('fieldOf') + ' ', picker]);
            return picker;
        }
        /**
         * Offers fields in picker: the one chosen stays chosen while a condition names it (or it is the stored
         * one); one field alone is chosen by itself; among several, nobody's choice is guessed.
         */
        function offerFields(picker, fields) {
            var offered = fields.slice();
            if (picker._stored && offered.indexOf(picker._stored) === -1) offered.push(picker._stored);
            var key = offered.join('\n');
            if (picker._offered !== key) {
                picker._offered = key;
                picker.innerHTML = '';
                if (offered.length !== 1) picker.appendChild(el('option', { value: '', text: ui('chooseField') }));
                offered.forEach(function (x) { picker.appendChild(el('option', { value: x, text: x })); });
            }
            picker.value = offered.indexOf(picker._chosen) !== -1 ? picker._chosen : offered.length === 1 ? offered[0] : '';
        }

        /** The only condition, when it is "has not reported for" (whose duration is its own, not "For at least"). */
        function deadmanRow() {
            var f = state.fields;
            var only = !f.nested && f.conds.children.length === 1 ? f.conds.children[0] : null;
            return only && only._op() === 'not-reported' ? only : null;
        }


        function touch(ev) {
            var t = state.fields.touched;
            if (ev.target && t.indexOf(ev.target) === -1) t.push(ev.target);
        }
        /** Whether an error on target (null: on no one control) is to be shown yet. */
        function shown(target) {
            var f = state.fields;
            if (f.submitted) return true;
            if (!target) return f.touched.length > 0;
            return f.touched.some(function (t) { return t === target || target.contains(t); });
        }

        /** Marks the fields of err (the server's error, every problem it lists; null: none) and of problems. */
        function markError(at, err, rule, problems) {
            var e = err && (err.error || err);
            K.markErrors(form, state.fields.error, at, K.mergeProblems(problems || [], K.problemsOf(e)), rule, w, shown);
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
         * What the form itself can tell before asking the server, every one of it: a number field the browser
         * cannot read (its value is then empty, and the server would only say "required"), a missing name, a name in use.
         */
        function formProblems(read) {
            var out = [];
            var boxes = Array.prototype.filter.call(form.querySelectorAll('input[data-usaf-number]'), function (i) { return !i.closest('[hidden]'); });
            // Said under the field's label like the server's errors: the pointer of the box it is in names it.
            boxes.forEach(function (b) {
                var problem = K.numberProblem(b);
                if (problem) out.push({ element: b, pointer: pointerOf(read.at, b), message: ui(problem) });
            });
            var deadman = deadmanRow();
            if (deadman && durationOf(state.fields.forD)) out.push({ element: state.fields.forD, message: ui('forNotUsed') });
            var list = read.rule.devices && read.rule.devices.list;
            // A listed id outside the device id rule could never match a device.
            (list || []).forEach(function (id, i) { if (!K.isDeviceId(id)) out.push({ pointer: '/devices/list/' + i, message: ui('deviceId', { id: id }) }); });
            if (!read.rule.name) out.push({ pointer: '/name', message: ui('noName') });
            var key = K.nameKey;
            var name = key(read.rule.name);
            var self = state.editing ? state.editing.id : null;
            var other = state.rules.filter(function (r) { return r.id !== self && key(r.name) === name; })[0];
            if (read.rule.name && other) out.push({ pointer: '/name', message: ui('nameTaken', { name: other.name }) });
            return out;
        }
        /** The pointer of the most precise control in at that is, or holds, the element (undefined: none). */
        function pointerOf(at, element) {
            var best;
            Object.keys(at).forEach(function (p) {
                var c = typeof at[p] === 'function' ? at[p]() : at[p];
                if (c && (c === element || c.contains(element)) && (best === undefined || p.length > best.length)) best = p;
            });
            return best;
        }
        /** Marks the form's own problems at once, then with them what the server finds wrong with the rest. */
        function showProblems(read, problems, current) {
            markError(read.at, null, read.rule, problems);
            // A new rule nobody has typed into yet shows no errors, so there is nothing to ask the server about.
            if (!shown(null)) return;
            opts.request('POST', 'validate', { rule: read.rule }).then(function () {}, function (err) {
                var e = err && err.error;
                if (current() && e && e.code === 'RULE_INVALID') markError(read.at, e, read.rule, problems);
            });
        }
        function runPreview() {
            var read = K.readRule(state.fields, state.editing);
            var f = state.fields;
            var seq = ++state.seq;
            var problems = formProblems(read);
            if (problems.length) { showProblems(read, problems, function () { return seq === state.seq; }); f.preview.textContent = ''; return; }
            f.preview.textContent = ui('checking', { hours: opts.hours || 24 });
            opts.request('POST', 'preview', { rule: read.rule, hours: opts.hours || 24, store: opts.store ? opts.store() : undefined }).then(function (p) {
                if (seq !== state.seq) return;
                markError(read.at, null);
                var text = ui(p.fired === 1 ? 'firedOnce' : 'fired', { hours: opts.hours || 24, count: p.fired });
                if (p.fired) text += ui('firedAt', { times: p.firings.slice(0, 5).map(function (x) { return when(x.ts) + ' (' + x.device + ')'; }).join(', ') + (p.fired > 5 ? ', …' : '') });
                text += ' ' + ui(p.devices.length === 1 ? 'scannedOne' : 'scanned', { readings: p.scanned, devices: p.devices.length });
                f.preview.textContent = text;
                (p.notes || []).forEach(function (n) { f.preview.appendChild(el('div', { class: 'usaf-note', text: n })); });
            }, function (err) {
                if (seq !== state.seq) return;
                var e = err && err.error;
                if (e && e.code === 'RULE_INVALID') { markError(read.at, e, read.rule); f.preview.textContent = ''; }
                else { markError(read.at, null); f.preview.textContent = ui('noPreview', { message: failText(err) }); }
            });
        }

        /** asNew (true): the rule being edited was deleted meanwhile; what the form holds is saved as a new rule. */
        function save(asNew) {
            var read = K.readRule(state.fields, state.editing);
            var editing = asNew === true ? null : state.editing;
            if (!editing) read.rule.id = K.slug(read.rule.name);
            var path = editing ? 'rules/' + encodeURIComponent(editing.id) : 'rules';
            if (!editing && state.rules.some(function (r) { return r.id === read.rule.id; })) read.rule.id = read.rule.id + '-' + Date.now().toString(36).slice(-4);
            state.fields.submitted = true;
            // A preview on its way answers for the form before this save: let in later, it would wipe what the save is told.
            clearTimeout(state.timer);
            state.seq++;
            state.fields.preview.textContent = '';
            var problems = formProblems(read);
            var fields = state.fields;
            if (problems.length) { showProblems(read, problems, function () { return state.fields === fields; }); return; }
            var headers = editing && state.revision ? { 'if-match': '"' + state.revision + '"' } : undefined;
            opts.request(editing ? 'PUT' : 'POST', path, read.rule, headers).then(function (saved) {
                form.hidden = true;
                state.editing = null;
                fields.gone.textContent = '';
                say(ui('saved', { name: saved.name }));
                if (opts.onSaved) opts.onSaved(saved);
                return load();
            }, function (err) {
                var e = err && err.error ? err.error : err;
                markError(read.at, e, read.rule);
                if (editing && e && e.code === 'NOT_FOUND' && e.deleted) offerNew(fields);
            });
        }
        /** The rule open in the form was deleted: the form keeps what was typed and offers to save it as a new rule. */
        function offerNew(fields) {
            fields.gone.textContent = ui('goneKept') + ' ';
            fields.gone.appendChild(el('button', { type: 'button', class: 'usaf-save-new', text: ui('saveAsNew'), onclick: function () {
                if (state.fields !== fields) return;
                // The list without the deleted rule first: its id is free again for the new one.
                load().then(function () { save(true); });
            } }));
            load();
        }

        var datalist = el('datalist', { id: 'usaf-fields' });
        ['temperature', 'humidity', 'pressure', 'power', 'voltage', 'battery'].forEach(function (x) { datalist.appendChild(el('option', { value: x })); });
        container.appendChild(datalist);
        load();
        /** Whether a rule is open in the form with changes not saved (a reload or Back would lose them). */
        function unsaved() {
            return !form.hidden && !!state.fields.touched && state.fields.touched.length > 0;
        }
        return { reload: load, edit: edit, unsaved: unsaved };
    }

    root.UpperstackAlertForm = { mount: mount };
})(window);
