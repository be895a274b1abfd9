# Sourced by the train tests: st_relerr A.safetensors B.safetensors prints the
# worst per-tensor relative L2 error of B against A and the tensor's name,
# from sq-inspect's values (8 significant digits; no Python needed).
st_relerr() {
    awk '
    function load(line, arr,   name, vals, n, i) {
        match(line, /"name":"[^"]*"/); name = substr(line, RSTART + 8, RLENGTH - 9)
        match(line, /"values":\[[^]]*\]/); vals = substr(line, RSTART + 10, RLENGTH - 11)
        n = split(vals, v, ",")
        for (i = 1; i <= n; i++) arr[name, i] = v[i] + 0
        count[name] = n
        return name
    }
    FNR == 1 { file++ }
    file == 1 { load($0, A) }
    file == 2 { load($0, B) }
    END {
        worst = -1
        for (name in count) {
            d = 0; s = 0
            for (i = 1; i <= count[name]; i++) { x = A[name, i] - B[name, i]; d += x * x; s += A[name, i] * A[name, i] }
            r = sqrt(d) / (sqrt(s) > 1e-6 ? sqrt(s) : 1e-6)
            if (r > worst) { worst = r; wname = name }
        }
        printf "%.3g %s\n", worst, wname
    }' <("$SQ_BIN/sq-inspect" -v "$1") <("$SQ_BIN/sq-inspect" -v "$2")
}
