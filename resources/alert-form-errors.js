// The server's rule errors in the words of the alert rule form, next to the field they are about.
(function (root) {
    'use strict';
    // alert-form-load.js runs the form's files in order; the kit's functions are still looked up when used,
    // so the files also work run in another order (as script tags of the editor would run them).
    var K = root.UpperstackAlertFormKit = root.UpperstackAlertFormKit || {};

    function elementFor(at, pointer) {
        var p = pointer;
        while (p) {
            var e = at[p];
            if (e) return typeof e === 'function' ? e() : e;
            p = p.slice(0, p.lastIndexOf('/'));
        }
        return null;
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
     * number". The pointer names the field; the locale names its label and what it wants (w: the form's words).
     */
    function errorWords(e, rule, target, w) {
        /** The locale's text, or null where it has none: the caller tries another key or words of its own. */
        function words(key, subs) { return w.ui(key, subs, null); }
        var full = e.pointer === undefined ? '' : String(e.pointer);
        var pointer = full.replace(/^\/rule/, '');
        var raw = String(e.message || '');
        // A preview's message names the place in the rule or, checked with the whole request, in the request (/rule/...).
        var named = full && raw.indexOf(full) === 0 ? full : pointer && raw.indexOf(pointer) === 0 ? pointer : '';
        var detail = named ? raw.slice(named.length).replace(/^[\s:]+/, '') : raw;
        var parts = pointer.split('/').filter(Boolean);
        var at = conditionAt(rule, parts);
        var key = parts.filter(function (x) { return !/^\d+$/.test(x) && x !== 'all' && x !== 'any'; }).join('-');
        if (at.cond && key === 'when-for' && at.cond.op === 'not-reported') key = 'when-silence';
        if (at.cond && key === 'when-value' && (at.cond.op === 'equal' || at.cond.op === 'not-equal')) key = 'when-text';
        var rowLabel = target && target.closest('.usaf-row') ? target.closest('.usaf-row').querySelector('label') : null;
        var label = (key && (words('labels.' + key) || words('labels.' + parts[0]))) || (rowLabel ? rowLabel.textContent : null);
        if (!label) return raw;
        var hint = e.keyword && HINTED[e.keyword] ? words('hints.' + key) : null;
        // One of two fields is wanted (an escalation's time or value): said in the form's words, naming both.
        if (e.keyword === 'anyOf') hint = words('hints.' + key + '-or');
        var band = /^must be below high \((\S+) is not below (\S+)\)$/.exec(detail);
        if (band) hint = words('lowAboveHigh', { low: band[1], high: band[2] });
        // The API names an operator as the rule writes it ("not-reported"); the form, as its dropdown says it.
        if (!hint) w.ops().forEach(function (o) { detail = detail.split('"' + o[0] + '"').join('"' + o[1] + '"'); });
        var text = label + ': ' + (hint || detail);
        if (at.n && rule.when && !('op' in rule.when)) text = w.ui('condition', { n: at.n }) + ', ' + text;
        return text;
    }
    /**
     * The problems of the server's error: every one of its `errors` ({field, message, keyword}), or the error
     * itself from a server that lists none.
     */
    function problemsOf(e) {
        if (!e) return [];
        if (!Array.isArray(e.errors) || !e.errors.length) return [e];
        return e.errors.map(function (p) { return { pointer: p.field, message: p.message, keyword: p.keyword }; });
    }
    /** The problems of first, then those of more about a field first has none about (the form's own come first). */
    function mergeProblems(first, more) {
        var taken = first.map(function (p) { return p.pointer === undefined ? null : String(p.pointer).replace(/^\/rule/, ''); });
        return first.concat(more.filter(function (p) { return taken.indexOf(String(p.pointer).replace(/^\/rule/, '')) === -1; }));
    }
    /**
     * Marks every field a problem is about, each with its own words next to it, and lists them all in box; a
     * field's first problem is the one said. shown(target) tells whether an error on target is to be shown yet.
     */
    function markErrors(form, box, at, problems, rule, w, shown) {
        form.querySelectorAll('.usaf-invalid').forEach(function (x) { x.classList.remove('usaf-invalid'); });
        form.querySelectorAll('.usaf-field-error').forEach(function (x) { x.remove(); });
        box.textContent = '';
        var marked = [];
        problems.forEach(function (e) {
            var target = e.element || (e.pointer !== undefined ? elementFor(at, String(e.pointer).replace(/^\/rule/, '')) : null);
            if (!shown(target) || (target && marked.indexOf(target) !== -1)) return;
            var text = errorWords(e, rule, target, w);
            box.appendChild(K.el('div', { text: text }));
            if (!target) return;
            marked.push(target);
            target.classList.add('usaf-invalid');
            target.insertAdjacentElement('afterend', K.el('div', { class: 'usaf-field-error', role: 'alert', text: text }));
        });
    }
    K.elementFor = elementFor;
    K.errorWords = errorWords;
    K.problemsOf = problemsOf;
    K.mergeProblems = mergeProblems;
    K.markErrors = markErrors;
})(window);
