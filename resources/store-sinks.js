// The sink kinds of the store config dialog and the checks it runs on them: the same rules as the
// runtime's normalizeSinks (nodes/lib/store/sinks.ts) and each kind's normalize(). Loaded by
// nodes/store-config/store-config.html after editor.js; plain browser JS, nothing builds it.
(function (root) {
    'use strict';

    var MEMORY = { min: 0, max: 1048576, value: 128 };
    /** nodes/lib/store/retention.ts: ms of "30d", 0 for empty (forever), null when it is not a period. */
    function periodMs(v) {
        var t = String(v === undefined || v === null ? '' : v).trim().toLowerCase();
        if (t === '' || t === '0' || t === 'forever') return 0;
        var m = /^(\d{1,6})\s*(m|h|d|w|y)$/.exec(t);
        if (!m) return null;
        var unit = { m: 60000, h: 3600000, d: 86400000, w: 604800000, y: 31536000000 }[m[2]];
        var ms = Number(m[1]) * unit;
        return ms > 0 && ms <= 1000 * 31536000000 ? ms : null;
    }
    var FIELD_TYPES = ['float', 'integer', 'unsigned', 'boolean', 'string'];
    function wholeIn(v, min, max) {
        if (v === undefined || v === '') return true;
        var t = String(v).trim();
        return /^\d+$/.test(t) && Number(t) >= min && Number(t) <= max;
    }
    /** The runtime's normalizeInflux checks (nodes/lib/store/sinks-influx.ts): the offending setting, or null. */
    function serverCheck(s, vm) {
        var url = String(s.url || '').trim();
        var optional = s.optional === true || s.optional === 'true';
        var unset = url === '' || /^\$\{[^}]*\}$/.test(url);
        if (optional && unset) return null;
        // A ${VARIABLE} is resolved by the runtime from its environment.
        if (!/^https?:\/\/[^\s/]+/i.test(url) && !(url !== '' && unset)) return 'url';
        var api = vm ? 'v2' : String(s.api || 'v1');
        if (['auto', 'v1', 'v2', 'v3'].indexOf(api) < 0) return 'api';
        var db = String(s.database || '').trim();
        var bucket = String(s.bucket || '').trim();
        if (!vm && (api === 'v1' || api === 'v3') && !db) return 'database';
        if (!vm && api === 'v2' && (!bucket || !String(s.org || '').trim())) return 'bucket';
        if (api === 'auto' && !db && !bucket) return 'database';
        if (['ns', 'us', 'ms', 's', undefined, ''].indexOf(s.precision) < 0) return 'precision';
        var m = String(s.measurement || '');
        if (/^#|[\n\r]/.test(m)) return 'measurement';
        if (!tagMapValid(s.tags, String(s.deviceTag || '').trim() || 'device')) return 'tags';
        if (!wholeIn(s.batchSize, 1, 100000)) return 'batchSize';
        if (!wholeIn(s.flushMs, 1, 3600000)) return 'flushMs';
        if (!wholeIn(s.gzipAbove, 0, 1073741824)) return 'gzipAbove';
        var r = String(s.retention || '').trim().toLowerCase();
        if (r !== '' && r !== '0' && r !== 'forever' && !/^\d{1,6}\s*(m|h|d|w|y)$/.test(r)) return 'retention';
        var types = String(s.fieldTypes || '').split(/[,\n]/);
        for (var i = 0; i < types.length; i++) {
            var part = types[i].trim();
            if (!part) continue;
            var at = part.lastIndexOf(':');
            if (at <= 0 || FIELD_TYPES.indexOf(part.slice(at + 1).trim().toLowerCase()) < 0) return 'fieldTypes';
        }
        return null;
    }
    /** The same rules as nodes/lib/influx/tag-map.ts: *, name, name=written name, -name. */
    function tagMapValid(text, deviceTag) {
        var entries = String(text === undefined ? '*' : text).split(/[,\n]/);
        var from = {}, to = {}, drop = {};
        for (var i = 0; i < entries.length; i++) {
            var e = entries[i].trim();
            if (!e || e === '*') continue;
            if (e.charAt(0) === '-') {
                var d = e.slice(1).trim();
                if (!d || from[d]) return false;
                drop[d] = true;
                continue;
            }
            var at = e.indexOf('=');
            var a = (at < 0 ? e : e.slice(0, at)).trim();
            var b = (at < 0 ? e : e.slice(at + 1)).trim();
            if (!a || !b || drop[a] || from[a] || to[b] || b === deviceTag || /\\$/.test(b)) return false;
            from[a] = true;
            to[b] = true;
        }
        return true;
    }
    function serverFields(vm) {
        var f = [
            { name: 'url', icon: 'fa-globe', width: '60%', placeholder: vm ? 'placeholder.urlVm' : 'placeholder.url' }
        ];
        if (!vm) {
            f.push({ name: 'api', icon: 'fa-code-fork', width: '180px', select: ['auto', 'v1', 'v2', 'v3'] });
            f.push({ name: 'database', icon: 'fa-database', width: '40%', placeholder: 'placeholder.database' });
            f.push({ name: 'retentionPolicy', icon: 'fa-clock-o', width: '40%', placeholder: 'placeholder.retentionPolicy' });
            f.push({ name: 'org', icon: 'fa-building-o', width: '40%' });
            f.push({ name: 'bucket', icon: 'fa-archive', width: '40%' });
            f.push({ name: 'user', icon: 'fa-user', width: '40%', secret: 'user' });
            f.push({ name: 'password', icon: 'fa-lock', width: '40%', secret: 'password' });
        }
        f.push({ name: 'token', icon: 'fa-key', width: '60%', secret: 'token' });
        f.push({ name: 'precision', icon: 'fa-clock-o', width: '120px', select: ['ms', 's', 'us', 'ns'] });
        f.push({ name: 'measurement', icon: 'fa-tag', width: '40%', placeholder: 'placeholder.measurement' });
        f.push({ name: 'deviceTag', icon: 'fa-tag', width: '40%' });
        f.push({ name: 'tags', icon: 'fa-tags', width: '60%', placeholder: 'placeholder.tags' });
        f.push({ name: 'fieldTypes', icon: 'fa-list', width: '60%', placeholder: 'placeholder.fieldTypes' });
        f.push({ name: 'schemaFile', icon: 'fa-file-code-o', width: '60%', placeholder: 'placeholder.schemaFile' });
        f.push({ name: 'batchSize', icon: 'fa-th-large', width: '90px', whole: { min: 1, max: 100000, value: 5000 }, unit: 'label.lines' });
        f.push({ name: 'flushMs', icon: 'fa-clock-o', width: '90px', whole: { min: 1, max: 3600000, value: 1000 }, unit: 'label.ms' });
        f.push({ name: 'gzipAbove', icon: 'fa-compress', width: '90px', whole: { min: 0, max: 1073741824, value: 65536 }, unit: 'label.bytes' });
        if (!vm) {
            f.push({ name: 'create', icon: 'fa-magic', width: '120px', select: ['true', 'false'] });
            f.push({ name: 'retention', icon: 'fa-history', width: '90px', placeholder: 'placeholder.retention' });
        }
        return f;
    }
    function serverDefaults(vm) {
        return {
            url: '', api: vm ? 'v2' : 'v1', database: vm ? '' : 'upperstack', retentionPolicy: '', org: '', bucket: '', precision: 'ms',
            measurement: 'telemetry', measurementTag: 'measurement', deviceTag: 'device', tags: '*', fieldTypes: '', schemaFile: '',
            batchSize: 5000, flushMs: 1000, gzipAbove: 65536, timeoutMs: 10000, create: true, retention: '', slot: 1, optional: false
        };
    }
    /**
     * Sink kinds the runtime knows (nodes/lib/store/sinks.ts). A new kind adds an entry here:
     * its settings with defaults, the fields the dialog shows, and a check per setting that
     * returns an error key or null, the same rules as the kind's normalize() in the runtime.
     */
    var SINK_KINDS = {
        duckdb: {
            queryable: true,
            defaults: { path: '', memoryLimit: 128, retention: '30d', rollupRetention: '1y' },
            fields: [
                { name: 'path', icon: 'fa-file-o', width: '60%', placeholder: 'placeholder.path' },
                { name: 'memoryLimit', icon: 'fa-microchip', width: '90px', whole: MEMORY, unit: 'label.mb' },
                { name: 'retention', icon: 'fa-history', width: '90px', placeholder: 'placeholder.forever', unit: 'label.retentionUnit' },
                { name: 'rollupRetention', icon: 'fa-line-chart', width: '90px', placeholder: 'placeholder.forever', unit: 'label.retentionUnit' }
            ],
            check: function (s) {
                var v = s.memoryLimit;
                if (v !== undefined && v !== '' && (!/^\d+$/.test(String(v).trim()) || Number(v) > MEMORY.max)) return 'memoryLimit';
                var raw = periodMs(s.retention);
                var rolled = periodMs(s.rollupRetention);
                if (raw === null) return 'retention';
                // Raw readings kept forever keep their roll-ups forever too (the runtime does not apply the roll-ups' own period).
                if (rolled === null || (raw > 0 && rolled > 0 && rolled < raw)) return 'rollupRetention';
                return null;
            },
            /** A note on a setting that is valid but not applied as written: [field, locale key], or null. */
            note: function (s) {
                return periodMs(s.retention) === 0 && periodMs(s.rollupRetention) > 0 ? ['rollupRetention', 'rollupsForever'] : null;
            },
            /** The file, as far as the editor can tell (the data folder is the runtime's); two sinks on one file cannot both open it. */
            file: function (s) {
                var p = String(s.path || '').trim();
                if (p) return p;
                return '<data folder>/' + (s.id === 'main' ? 'upperstack.duckdb' : 'upperstack-' + s.id + '.duckdb');
            }
        },
        influxdb: {
            queryable: false,
            server: true,
            // Without a DuckDB sink, the first server sink that reads back answers queries (InfluxQL: API v1 or ask the server).
            readsBack: function (s) { return s.api === 'v1' || s.api === 'auto' || !s.api; },
            defaults: serverDefaults(false),
            fields: serverFields(false),
            check: function (s) { return serverCheck(s, false); }
        },
        victoriametrics: {
            queryable: false,
            server: true,
            readsBack: function () { return true; },
            defaults: serverDefaults(true),
            fields: serverFields(true),
            check: function (s) { return serverCheck(s, true); }
        }
    };

    /** The runtime's normalizeSinks rules: an error key, or null. */
    function sinksProblem(list) {
        if (!Array.isArray(list) || list.length === 0) return 'sinksEmpty';
        var ids = {};
        var files = {};
        var queryable = false;
        for (var i = 0; i < list.length; i++) {
            var s = list[i] || {};
            var kind = SINK_KINDS[s.kind];
            if (!kind) return 'sinkKind';
            if (!/^[A-Za-z0-9_-]{1,32}$/.test(String(s.id || ''))) return 'sinkId';
            if (ids[s.id]) return 'sinkIdTwice';
            ids[s.id] = true;
            var p = kind.check(s);
            if (p) return kind.server ? 'sink.' + p : p;
            if (kind.file) {
                var f = kind.file(s);
                if (f !== ':memory:' && files[f]) return 'sinkFileTwice';
                files[f] = true;
            }
            if (kind.queryable || (kind.readsBack && kind.readsBack(s))) queryable = true;
        }
        return queryable ? null : 'sinksQueryable';
    }

    root.UpperstackStoreSinks = { SINK_KINDS: SINK_KINDS, sinksProblem: sinksProblem, periodMs: periodMs };
})(window);
