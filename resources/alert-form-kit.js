// The alert rule form's kit: its words (from the alert node's locale file), the controls it is built
// from, a rule as one line of text, and the lib's rules for names and device ids. Loaded first (the
// order is alert-form-load.js's).
(function (root) {
    'use strict';
    var K = root.UpperstackAlertFormKit = root.UpperstackAlertFormKit || {};
    var OP_NAMES = ['above', 'below', 'outside', 'inside', 'equal', 'not-equal', 'changed-by', 'not-reported', 'anomalous'];
    var DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
    var SEVERITIES = ['info', 'warning', 'critical'];
    // Copies of three rules of nodes/lib (a browser cannot load the compiled lib); test/unit/alert-form-rules.test.ts
    // runs them beside the lib's own over the same cases, so they cannot drift apart.
    /** The device id rule of the inputs and the device registry (deviceIdProblem, nodes/lib/devices/record.ts). */
    function isDeviceId(id) { return /^[A-Za-z0-9._:@-]{1,128}$/.test(id); }
    /** As the server compares rule names (ruleNameKey, nodes/lib/rules/validate.ts): accents composed or not, spaces around, case alike. */
    function nameKey(n) { return String(n).normalize('NFC').trim().toLowerCase(); }
    /**
     * The fields conditions name, each once, in their order: what a group's recovery or escalation threshold
     * can watch (watchedFields, nodes/lib/rules/validate.ts).
     */
    function fieldsOf(conds) {
        var out = [];
        (conds || []).forEach(function (c) { if (c && typeof c.field === 'string' && c.field !== '' && out.indexOf(c.field) === -1) out.push(c.field); });
        return out;
    }
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
    // Number boxes are text boxes (a phone still shows its number keys): the browser's number box drops, as
    // they are typed, the characters it cannot read, so "21,5" became 215 and "30 °C" 30, saved as typed in
    // good faith. Here the box keeps the text, and a text that is no plain number is marked (numberProblem).
    function num(cls, value, placeholder) {
        return el('input', { type: 'text', inputmode: 'decimal', autocomplete: 'off', 'data-usaf-number': true, class: cls, value: value === undefined ? '' : String(value), placeholder: placeholder || '' });
    }
    var NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;
    /**
     * What is wrong with a number box's text, as the key of the locale's words (null: nothing; an empty box is
     * the server's to judge): a decimal comma, a unit after the number, a number too large, or no number at all.
     */
    function numberProblem(input) {
        var v = input ? input.value.trim() : '';
        if (v === '') return null;
        if (NUMBER.test(v)) return isFinite(Number(v)) ? null : 'notNumber';
        if (/^[-+]?\d*,\d+$/.test(v) || /^[-+]?\d{1,3}(,\d{3})+(\.\d*)?$/.test(v)) return 'decimalComma';
        var m = /^([-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?)\s*[^\d\s.,+-][^\d]*$/i.exec(v);
        return m ? 'withUnit' : 'notNumber';
    }
    /** A duration picker: a number and a unit (unitOptions: [value, label] pairs); empty number = none. */
    function durationBox(cls, text, unitOptions) {
        var m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(text || '');
        var n = m ? Number(m[1]) : '';
        var u = m ? m[2] : 'm';
        if (u === 'w') { n = Number(n) * 7; u = 'd'; }
        if (u === 'ms') { n = Number(n) / 1000; u = 's'; }
        var box = el('span', { class: 'usaf-duration ' + cls });
        box.appendChild(el('input', { type: 'text', inputmode: 'decimal', autocomplete: 'off', 'data-usaf-number': true, class: cls + '-n', value: String(n) }));
        box.appendChild(select(cls + '-u', unitOptions, u));
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
        return v === '' ? undefined : NUMBER.test(v) ? Number(v) : NaN;
    }
    function slug(name) {
        // Letters with diacritics keep their base letter ("Température" → "temperature", not "temp-rature").
        var s = String(name || '').normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 48);
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
    /** Whether a group holds groups: the form shows such a condition but does not edit it (it keeps it). */
    function nested(when) {
        return isGroup(when) && (when.all || when.any || []).some(function (c) { return !('op' in c); });
    }
    function copy(x) { return x === undefined ? undefined : JSON.parse(JSON.stringify(x)); }
    /**
     * The words of one mounted form, from its opts.t (the editor's catalog or the page's): every word a
     * person reads is in the alert node's locale file (form.ui.*), English too, so a language is added by a
     * locale file alone. Each mount has its own: a form drawn later does not change an earlier one's words.
     */
    function wordsOf(t) {
        var translate = typeof t === 'function' ? t : function () { return null; };
        /**
         * The locale's text for form.ui.<key>; where it has none, `missing` when given (e.g. null, for
         * the caller to try another key), else the key itself, so a gap shows rather than hides.
         */
        function ui(key, subs, missing) {
            var text = translate('form.ui.' + key, subs);
            if (typeof text === 'string' && text !== '') return text;
            return missing !== undefined ? missing : key;
        }
        function ops() { return OP_NAMES.map(function (o) { return [o, ui('op.' + o)]; }); }
        function units() { return ['s', 'm', 'h', 'd'].map(function (u) { return [u, ui('unit.' + u)]; }); }
        function duration(cls, text) { return durationBox(cls, text, units()); }
        function opLabel(op) {
            return OP_NAMES.indexOf(op) === -1 ? op : ui('op.' + op);
        }
        function conditionText(c) {
            if (!('op' in c)) return '(' + (c.all || c.any || []).map(conditionText).join(' ' + ui(c.any ? 'or' : 'and') + ' ') + ')';
            var v = c.op === 'outside' || c.op === 'inside' ? c.low + '–' + c.high : c.op === 'not-reported' ? c['for'] : c.op === 'anomalous' ? ui('score', { score: c.score || 0.5 }) : c.value;
            return (c.field || ui('device')) + ' ' + opLabel(c.op) + ' ' + (v === undefined ? '' : v) + (c.op === 'changed-by' ? ' ' + ui('within', { duration: c.within }) : '');
        }
        /** A rule's condition as one line, as the rule table shows it. */
        function summary(rule) {
            var when = rule.when;
            if (!isGroup(when)) return conditionText(when) + (when.op !== 'not-reported' && when['for'] ? ' ' + ui('for', { duration: when['for'] }) : '');
            var key = when.any ? 'any' : 'all';
            return (when[key] || []).map(conditionText).join(' ' + ui(key === 'any' ? 'or' : 'and') + ' ') + (when['for'] ? ' ' + ui('for', { duration: when['for'] }) : '');
        }
        return { ui: ui, ops: ops, units: units, duration: duration, conditionText: conditionText, summary: summary };
    }

    var names = {
        wordsOf: wordsOf, DAYS: DAYS, SEVERITIES: SEVERITIES, PLACEHOLDERS: PLACEHOLDERS, isDeviceId: isDeviceId, nameKey: nameKey, fieldsOf: fieldsOf,
        el: el, select: select, num: num, durationOf: durationOf, numberOf: numberOf, numberProblem: numberProblem, slug: slug, isGroup: isGroup, leaves: leaves,
        nested: nested, copy: copy
    };
    Object.keys(names).forEach(function (n) { K[n] = names[n]; });
})(window);
