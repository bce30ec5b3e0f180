# Loaded by Jeto into a `vagrant status` process (RUBYOPT=-r<this file>, with JETO_BATCH naming a
# JSON file of more folders, each with its own environment variables). When vagrant exits, it
# loads each further folder's environment through Vagrant's own API (so it is right for every
# provider), as `vagrant status` would there, and prints its machines' states as
# `--machine-readable` records whose target is `jeto-batch-<index>/<machine>`; a folder that
# fails prints `jeto-batch-<index>,error,<why>` and fails alone. One Ruby start-up for many
# folders is what makes reading many states cheaper.
#
# For each machine whose state its hypervisor can list for many machines at once, a
# `jeto-fast` record says how (`docker`, `virtualbox,<uid>` or `libvirt,<uri>`) and where its
# data dir is; Jeto then reads such machines from the hypervisor while the folder is unchanged.
require "json"

at_exit do
  begin
    file = ENV["JETO_BATCH"]
    if file && defined?(Vagrant::Environment)
      clean = ->(text) { text.to_s.gsub(/[\r\n]/, " ").gsub(",", "%!(VAGRANT_COMMA)") }
      # Each Vagrant::Environment sets up the plugin bundler again (global plugins, then the
      # folder's own); in this one process the global set is the same for every folder, and a
      # folder without plugins of its own has nothing to add: both are skipped, which is most
      # of an environment's cost after the first. A folder with local plugins gets the full set-up.
      if defined?(Vagrant::Plugin::Manager)
        Vagrant::Plugin::Manager.prepend(Module.new do
          def globalize!
            @jeto_globalized ||= super
          end

          def localize!(env)
            path = env.local_data_path
            return super if path.nil? || path.join("plugins.json").exist?
            @localized = true
            @local_file = nil
            {}
          end
        end)
      end
      # How the hypervisor lists this machine, when nothing but the listing decides its state.
      fast = lambda do |machine|
        config = machine.provider_config
        case machine.provider_name
        when :docker
          ["docker"] unless config.force_host_vm || config.compose
        when :virtualbox
          ["virtualbox", Process.uid.to_s]
        when :libvirt
          uri = config.uri.to_s
          ["libvirt", uri] if uri.start_with?("qemu:///")
        end
      rescue StandardError
        nil
      end
      facts = lambda do |machine, target, now|
        how = fast.(machine)
        next unless how
        fields = [how[0], machine.data_dir.to_s, *how[1..]].map { |f| clean.(f) }
        $stdout.puts("#{now},#{target},jeto-fast,#{fields.join(',')}")
      end
      # The folder vagrant ran in: its machines were built by `vagrant status` already.
      ObjectSpace.each_object(Vagrant::Environment) do |env|
        next unless env.root_path && File.realpath(env.root_path.to_s) == File.realpath(Dir.pwd)
        now = Time.now.to_i
        active = env.active_machines.to_h
        env.machine_names.each do |name|
          facts.(env.machine(name, active[name] || env.default_provider(machine: name)), name, now)
        rescue StandardError
          nil
        end
      end
      JSON.parse(File.read(file)).each_with_index do |entry, index|
        saved = {}
        now = Time.now.to_i
        begin
          entry["env"].each do |key, value|
            saved[key] = ENV[key]
            ENV[key] = value
          end
          env = Vagrant::Environment.new(cwd: entry["path"])
          active = env.active_machines.to_h
          env.machine_names.each do |name|
            provider = active[name] || env.default_provider(machine: name)
            machine = env.machine(name, provider)
            target = "jeto-batch-#{index + 1}/#{name}"
            $stdout.puts("#{now},#{target},provider-name,#{machine.provider_name}")
            $stdout.puts("#{now},#{target},state,#{machine.state.id}")
            facts.(machine, target, now)
          end
        rescue Exception => e
          $stdout.puts("#{now},jeto-batch-#{index + 1},error,#{clean.(e.class)}: #{clean.(e.message)}")
        ensure
          saved.each { |key, value| value.nil? ? ENV.delete(key) : ENV[key] = value }
        end
      end
      $stdout.flush
    end
  rescue Exception => e
    $stderr.puts("jeto batch: #{e.class}")
  end
end
