/* cyberclaim default pack: common web shells (PHP, ASP(X), JSP). ATT&CK T1505.003. */
rule CC_Webshell_PHP_Eval : webshell
{
    meta:
        description = "PHP web shell: eval/assert/system of request data"
        author = "cyberclaim"
        category = "webshell"
        gbt = "MPBD"
        attack = "T1505.003"
        severity = "high"
    strings:
        $php = "<?php" nocase
        $e1 = /(eval|assert|system|passthru|shell_exec|exec|popen|proc_open)\s*\(\s*(base64_decode\s*\(\s*)?\$_(POST|GET|REQUEST|COOKIE|SERVER)\s*\[/ nocase
        $e2 = /(eval|assert)\s*\(\s*(gzinflate|str_rot13|base64_decode|gzuncompress)\s*\(/ nocase
        $c99 = "c99shell" nocase
        $r57 = "r57shell" nocase
        $wso = "WSO " ascii
        $b374k = "b374k" nocase
    condition:
        ($php and any of ($e*)) or any of ($c99, $r57, $b374k) or ($php and $wso and any of ($e*))
}

rule CC_Webshell_China_Chopper : webshell
{
    meta:
        description = "China Chopper one-line web shell (ASPX / PHP)"
        author = "cyberclaim"
        category = "webshell"
        gbt = "MPBD"
        attack = "T1505.003"
        severity = "high"
    strings:
        $aspx = /<%@\s*Page\s+Language\s*=\s*"?Jscript"?\s*%>\s*<%\s*eval\s*\(\s*Request\.Item\[/ nocase
        $asp = /<%\s*eval\s+request\s*\(/ nocase
        $php = /<\?php\s+@eval\s*\(\s*\$_POST\[/ nocase
    condition:
        any of them
}

rule CC_Webshell_JSP_Exec : webshell
{
    meta:
        description = "JSP web shell: Runtime.exec of a request parameter"
        author = "cyberclaim"
        category = "webshell"
        gbt = "MPBD"
        attack = "T1505.003"
        severity = "high"
    strings:
        $a = /Runtime\.getRuntime\(\)\.exec\(\s*request\.getParameter\(/ nocase
        $b = "<%@ page" nocase
    condition:
        $a and $b
}
