// Runs a declarative Jenkinsfile against a recording stand-in of Jenkins' pipeline DSL (no Jenkins can be
// installed here: it is on none of this machine's registries) and prints what it declares as JSON: every
// step with its arguments, nested as written. Groovy itself parses the file, so a syntax error fails here as
// it would in Jenkins; what Jenkins' own validator adds (known steps, plugin options) is not checked.
import groovy.json.JsonOutput

class Recorder {
    List calls = []
    Map env = [:]

    def methodMissing(String name, Object args) {
        def list = args as List
        def body = list && list[-1] instanceof Closure ? list.remove(list.size() - 1) : null
        def call = [step: name, args: list.collect { it instanceof GString ? it.toString() : it }]
        if (body != null) {
            def inner = new Recorder(env: env)
            body.delegate = inner
            body.resolveStrategy = Closure.DELEGATE_FIRST
            body.call()
            call.body = inner.calls
            if (name == 'environment') call.vars = inner.assigned
        }
        calls << call
        return call
    }

    Map assigned = [:]

    def propertyMissing(String name) { return name == 'env' ? env : name }

    def propertyMissing(String name, Object value) { assigned[name] = value instanceof GString ? value.toString() : value }
}

def text = new File(args[0]).text
def recorder = new Recorder()
def script = new GroovyShell().parse(text)
def mc = new ExpandoMetaClass(script.class, false)
mc.methodMissing = { String name, Object a -> recorder.methodMissing(name, a) }
mc.propertyMissing = { String name -> recorder.propertyMissing(name) }
mc.initialize()
script.metaClass = mc
script.run()
println JsonOutput.toJson(recorder.calls)
