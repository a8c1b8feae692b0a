// The anomaly node dialog's backtest panel: replays the readings stored for one device and field through the
// detector as the dialog stands, unsaved edits included, and shows what would have been flagged. Loaded by
// nodes/anomaly/anomaly.html after editor.js; plain browser JS, nothing builds it.
(function (root) {
    'use strict';

    var RANGE_MS = { '1h': 3600000, '24h': 86400000, '7d': 604800000, '30d': 2592000000 };
    var SHOWN_REASONS = 3;

    function blank(v) {
        return v === undefined || v === null || String(v).trim() === '';
    }

    /** The settings as they stand in the dialog, unsaved edits included. */
    function dialogConfig(node, props, configVersion) {
        var config = { configVersion: configVersion };
        props.forEach(function (prop) {
            if (prop === 'configVersion') return;
            var v = root.UpperstackEditor.formValue(node, prop);
            config[prop] = v === undefined || v === null ? '' : v;
        });
        // The config-node picker's "add new" entry is no store.
        if (config.store === '_ADD_') config.store = '';
        return config;
    }

    /** Epoch ms of a datetime-local input (the browser's zone), or undefined when empty. */
    function localTime(sel) {
        var v = $(sel).val();
        if (blank(v)) return undefined;
        var ms = new Date(v).getTime();
        return isFinite(ms) ? ms : v;
    }

    function showBacktest(result, tr) {
        var out = $('#upperstack-anomaly-bt-result').empty();
        $('<div class="upperstack-anomaly-bt-summary">')
            .text(tr('upperstack-anomaly.backtest.result', { flagged: result.flagged, scanned: result.scanned }, result.flagged + ' of ' + result.scanned + ' readings would have been flagged'))
            .appendTo(out);
        var notes = [];
        if (result.scanned === 0) notes.push(tr('upperstack-anomaly.backtest.none', { device: result.device, field: result.field }, 'no numeric readings in this range'));
        if (result.warmingUp > 0) notes.push(tr('upperstack-anomaly.backtest.warmup', { warmingUp: result.warmingUp }, 'the first ' + result.warmingUp + ' readings were warm-up'));
        if (result.skipped > 0) notes.push(tr('upperstack-anomaly.backtest.skipped', { skipped: result.skipped }, result.skipped + ' values were not numbers'));
        notes.forEach(function (n) {
            $('<div class="form-tips upperstack-anomaly-bt-note">').text(n).appendTo(out);
        });
        if (result.anomalies.length) {
            var list = $('<ul class="upperstack-anomaly-bt-reasons">').appendTo(out);
            result.anomalies.slice(0, SHOWN_REASONS).forEach(function (a) {
                $('<li>').append($('<code>').text(a.ts)).append(document.createTextNode(' ' + a.reason)).appendTo(list);
            });
            var more = result.flagged - Math.min(SHOWN_REASONS, result.anomalies.length);
            if (more > 0) $('<li>').text(tr('upperstack-anomaly.backtest.more', { more: more }, '… and ' + more + ' more')).appendTo(list);
        }
    }

    function showBacktestError(message) {
        $('#upperstack-anomaly-bt-result').empty().append(
            $('<div class="upperstack-anomaly-bt-error" style="color: var(--red-ui-text-color-error, #d00);">').text(message)
        );
    }

    /**
     * Wires the panel of an open dialog. props: the node's options (its defaults); configVersion: the version the
     * dialog's settings have; tr: the node's translator.
     */
    function prepare(node, props, configVersion, tr) {
        var range = $('#upperstack-anomaly-bt-range');
        range.on('change', function () { $('.upperstack-anomaly-bt-custom').toggle(range.val() === 'custom'); });
        range.trigger('change');
        $('#upperstack-anomaly-bt-run').on('click', function (e) {
            e.preventDefault();
            var device = $('#upperstack-anomaly-bt-device').val();
            var field = $('#upperstack-anomaly-bt-field').val();
            if (blank(device) || blank(field)) return showBacktestError(tr('upperstack-anomaly.backtest.errors.need', {}, 'give a device and a field'));
            var body = { config: dialogConfig(node, props, configVersion), device: device.trim(), field: field.trim() };
            if (range.val() === 'custom') {
                body.from = localTime('#upperstack-anomaly-bt-from');
                body.to = localTime('#upperstack-anomaly-bt-to');
                if (body.from === undefined) return showBacktestError(tr('upperstack-anomaly.backtest.errors.range', {}, 'give a start of the range'));
            } else {
                body.from = Date.now() - RANGE_MS[range.val()];
            }
            var button = $(this).prop('disabled', true);
            $('#upperstack-anomaly-bt-result').empty().append(
                $('<div class="form-tips">').text(tr('upperstack-anomaly.backtest.running', {}, 'replaying stored readings…'))
            );
            $.ajax({ url: 'upperstack-anomaly/backtest', type: 'POST', contentType: 'application/json', data: JSON.stringify(body), dataType: 'json' })
                .done(function (result) { showBacktest(result, tr); })
                .fail(function (xhr) {
                    var err = xhr.responseJSON && xhr.responseJSON.error;
                    var message = err && err.message ? err.message : xhr.status + ' ' + (xhr.statusText || '');
                    showBacktestError(tr('upperstack-anomaly.backtest.errors.failed', { message: message }, 'backtest failed: ' + message));
                })
                .always(function () { button.prop('disabled', false); });
        });
    }

    root.UpperstackAnomalyBacktest = { prepare: prepare };
})(window);
