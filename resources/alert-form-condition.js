// One condition of the alert rule form: field, comparison and the boxes that comparison needs.
(function (root) {
    'use strict';
    // alert-form-load.js runs the form's files in order; the kit's functions are still looked up when used,
    // so the files also work run in another order (as script tags of the editor would run them).
    var K = root.UpperstackAlertFormKit = root.UpperstackAlertFormKit || {};

    /**
     * A condition's row, appended to list. inGroup: the condition is one of a group's, whose own `for`
     * the form does not show and keeps. changed: called when the row is removed. w: the form's words (K.wordsOf).
     */
    function conditionRow(c, list, inGroup, changed, w) {
        var el = K.el, select = K.select, num = K.num, duration = w.duration, durationOf = K.durationOf, numberOf = K.numberOf, ui = w.ui;
        c = c || { op: 'above' };
        var r = el('div', { class: 'usaf-cond' });
        var field = el('input', { type: 'text', class: 'usaf-field', value: c.field || '', placeholder: ui('placeholder.field'), list: 'usaf-fields' });
        var op = select('usaf-op', w.ops(), c.op);
        var value = c.op === 'equal' || c.op === 'not-equal' ? el('input', { type: 'text', class: 'usaf-value', value: c.value === undefined ? '' : String(c.value) }) : num('usaf-value', c.value, ui('placeholder.value'));
        var low = num('usaf-low', c.low, ui('placeholder.low'));
        var high = num('usaf-high', c.high, ui('placeholder.high'));
        var within = duration('usaf-within', c.within);
        var silence = duration('usaf-silence', c.op === 'not-reported' ? c['for'] : '');
        var score = num('usaf-score', c.score, '0.5');
        var tag = el('input', { type: 'text', class: 'usaf-valuetag', value: c.valueTag || '', placeholder: ui('placeholder.valueTag'), title: ui('title.valueTag') });
        var lowTag = el('input', { type: 'text', class: 'usaf-lowtag', value: c.lowTag || '', placeholder: ui('placeholder.lowTag'), title: ui('title.lowTag') });
        var highTag = el('input', { type: 'text', class: 'usaf-hightag', value: c.highTag || '', placeholder: ui('placeholder.highTag'), title: ui('title.highTag') });
        var unit = el('span', { class: 'usaf-unit-label' });
        var rm = el('button', { type: 'button', class: 'usaf-remove-cond', text: '×', title: ui('title.removeCondition'), onclick: function () { r.remove(); changed(); } });
        [field, op, value, unit, el('span', { class: 'usaf-and', text: ui('between') }), low, high, within, silence, score, tag, lowTag, highTag, rm].forEach(function (x) { r.appendChild(x); });
        function show() {
            var o = op.value;
            var isEq = o === 'equal' || o === 'not-equal';
            // Both boxes are text boxes: the number box is the one marked data-usaf-number.
            if (isEq === value.hasAttribute('data-usaf-number')) {
                var repl = isEq ? el('input', { type: 'text', class: 'usaf-value', value: value.value }) : num('usaf-value', value.value === '' || K.numberProblem(value) ? undefined : value.value.trim(), ui('placeholder.value'));
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
            field.placeholder = ui(o === 'not-reported' || o === 'anomalous' ? 'placeholder.anyField' : 'placeholder.field');
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
    K.conditionRow = conditionRow;
})(window);
