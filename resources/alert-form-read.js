// The rule the alert rule form describes, read from its controls.
(function (root) {
    'use strict';
    // alert-form-load.js runs the form's files in order; the kit's functions are still looked up when used,
    // so the files also work run in another order (as script tags of the editor would run them).
    var K = root.UpperstackAlertFormKit = root.UpperstackAlertFormKit || {};

    /**
     * The rule the form's controls (f, as mount's edit made them) describe, editing the rule `editing` (or a
     * new one), and where each value came from: at maps a JSON pointer to its control, for errors.
     */
    function readRule(f, editing) {
        var slug = K.slug, copy = K.copy, durationOf = K.durationOf, numberOf = K.numberOf;
        var at = {};
        var conds = Array.prototype.slice.call(f.conds.children);
        var orig = editing || {};
        var rule = { id: editing ? editing.id : slug(f.name.value), name: f.name.value.trim() };
        if (orig.description !== undefined) rule.description = orig.description;
        at['/name'] = f.name;
        at['/id'] = f.name;
        var k = f.devKind.value;
        if (k === 'list') rule.devices = { list: f.devList.value.split(',').map(function (s) { return s.trim(); }).filter(Boolean) };
        else if (k === 'tag') { rule.devices = { tags: {} }; rule.devices.tags[f.tagName.value.trim()] = f.tagValue.value.trim(); }
        else rule.devices = { all: true };
        at['/devices'] = k === 'list' ? f.devList : k === 'tag' ? f.tagName : f.devKind;
        var forText = durationOf(f.forD);
        // One condition: a recovery or escalation threshold watches its field. A group: the field its picker names.
        var grouped = f.nested || conds.length !== 1;
        var watched = f.nested ? K.leaves(orig.when).list : conds.map(function (c) { return c._read(); });
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
            if (f.clearKind.value !== 'auto') {
                rule.clear.op = f.clearKind.value;
                if (grouped && f.clearField.value) rule.clear.field = f.clearField.value;
                rule.clear.value = numberOf(f.clearValue);
            }
            if (clearFor) rule.clear['for'] = clearFor;
            Object.keys(rule.clear).forEach(function (x) { if (rule.clear[x] === undefined) delete rule.clear[x]; });
        }
        at['/clear'] = f.clearKind;
        at['/clear/value'] = f.clearValue;
        at['/clear/field'] = f.clearField;
        at['/clear/for'] = f.clearFor;
        if (durationOf(f.keep)) rule.keepFiringFor = durationOf(f.keep);
        at['/keepFiringFor'] = f.keep;
        if (f.escSeverity.value) {
            var was = orig.escalate || {};
            rule.escalate = { severity: f.escSeverity.value };
            if (durationOf(f.escAfter)) rule.escalate.after = durationOf(f.escAfter);
            var escField = grouped ? f.escField.value : '';
            // Past the value in the direction of the condition on that field: "below 5, escalate below 2".
            var cond = watched.filter(function (c) { return !escField || c.field === escField; })[0];
            if (numberOf(f.escValue) !== undefined) {
                rule.escalate.op = was.op || (cond && cond.op === 'below' ? 'below' : 'above');
                rule.escalate.value = numberOf(f.escValue);
                if (escField) rule.escalate.field = escField;
                // A field set through the API on a rule of one condition is kept; one picked under a group that is
                // now one condition is not: the escalation watches that condition's field, as the recovery does.
                else if (!grouped && was.field && !K.isGroup(orig.when)) rule.escalate.field = was.field;
            }
        }
        at['/escalate'] = f.escSeverity;
        at['/escalate/after'] = f.escAfter;
        at['/escalate/value'] = f.escValue;
        // An escalation's op is the form's choice, made when a value is given: a problem with it is the value's.
        at['/escalate/op'] = f.escValue;
        at['/escalate/field'] = f.escField;
        if (durationOf(f.remind)) rule.remindEvery = durationOf(f.remind);
        at['/remindEvery'] = f.remind;
        if (numberOf(f.flapChanges) !== undefined || durationOf(f.flapWithin)) rule.flap = { changes: numberOf(f.flapChanges), within: durationOf(f.flapWithin) };
        at['/flap'] = f.flapChanges;
        at['/flap/changes'] = f.flapChanges;
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
        // Silences are not the form's (the Silence button adds them): a save keeps those the rule has then, one
        // added while the form was open included.
        if (!f.enabled.checked) rule.enabled = false;
        return { rule: rule, at: at };
    }
    K.readRule = readRule;
})(window);
